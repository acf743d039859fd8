/**
 * @module
 * A container's status, as containerd's CRI keeps it: in memory, and
 * checkpointed to `<root>/containers/<id>/status` (versioned JSON, written
 * atomically) on every change that must survive a restart.
 *
 * The state follows from the times (containerd's state machine):
 *
 * ```
 *   Create → CREATED ─Start→ RUNNING ─exit/Stop→ EXITED ─Remove→ (gone)
 *   Load (status unreadable, task lost) → UNKNOWN ─Stop→ EXITED
 * ```
 * `starting`, `removing` and `unknown` are transient and never written:
 * a restart forgets them, as containerd does.
 */
import { randomBytes } from 'node:crypto';
import { open, readFile, rename, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import {
  ContainerResources,
  ContainerState,
  type ContainerResources as Resources,
} from '../../api/k8s/cri/runtime/v1/api.js';
import { dataLoss, notFound } from '../../core/errdefs/index.js';

const STATUS_VERSION = 'v1';
export const STATUS_FILE = 'status';

/** Exit code and reason of a container whose end nobody saw (containerd's unknownExitCode). */
export const UNKNOWN_EXIT_CODE = 255;
export const UNKNOWN_EXIT_REASON = 'Unknown';
/** What a container that failed to start reports (containerd's errorStartExitCode/Reason). */
export const START_ERROR_EXIT_CODE = 128;
export const START_ERROR_REASON = 'StartError';
export const COMPLETED_REASON = 'Completed';
export const ERROR_REASON = 'Error';
export const OOM_REASON = 'OOMKilled';

export interface Status {
  /** The init process's pid while it runs; 0 otherwise. */
  pid: number;
  /** Nanoseconds since the epoch; 0n for "not yet". */
  createdAt: bigint;
  startedAt: bigint;
  finishedAt: bigint;
  exitCode: number;
  /** CamelCase reason for the state (`OOMKilled`, `StartError`, `Unknown`); '' for none. */
  reason: string;
  message: string;
  /** The resources of the container's spec (CreateContainer, UpdateContainerResources). */
  resources?: Resources;
  starting: boolean;
  removing: boolean;
  /** The status could not be loaded after a restart. */
  unknown: boolean;
}

export function newStatus(fields: Partial<Status> = {}): Status {
  return {
    pid: 0,
    createdAt: 0n,
    startedAt: 0n,
    finishedAt: 0n,
    exitCode: 0,
    reason: '',
    message: '',
    starting: false,
    removing: false,
    unknown: false,
    ...fields,
  };
}

/** containerd's unknownContainerStatus: what a container whose status file is unreadable gets. */
export function unknownStatus(): Status {
  return newStatus({ exitCode: UNKNOWN_EXIT_CODE, reason: UNKNOWN_EXIT_REASON, unknown: true });
}

export function stateOf(s: Status): ContainerState {
  if (s.unknown) return ContainerState.CONTAINER_UNKNOWN;
  if (s.finishedAt !== 0n) return ContainerState.CONTAINER_EXITED;
  if (s.startedAt !== 0n) return ContainerState.CONTAINER_RUNNING;
  if (s.createdAt !== 0n) return ContainerState.CONTAINER_CREATED;
  return ContainerState.CONTAINER_UNKNOWN;
}

/** `CONTAINER_RUNNING`, as containerd names states in its errors. */
export function stateName(state: ContainerState): string {
  return ContainerState[state] ?? String(state);
}

const TIME_KEYS = ['CreatedAt', 'StartedAt', 'FinishedAt'] as const;

/** containerd's field names; nanosecond times as exact JSON integers. */
export function encodeStatus(s: Status): string {
  const doc: Record<string, unknown> = {
    Version: STATUS_VERSION,
    Pid: s.pid,
    CreatedAt: '@CreatedAt',
    StartedAt: '@StartedAt',
    FinishedAt: '@FinishedAt',
    ExitCode: s.exitCode,
    Reason: s.reason,
    Message: s.message,
    Resources: s.resources ? ContainerResources.toJSON(s.resources) : null,
  };
  const times = { CreatedAt: s.createdAt, StartedAt: s.startedAt, FinishedAt: s.finishedAt };
  // JSON numbers past 2^53 lose digits in JS; write the bigints' own digits.
  return JSON.stringify(doc).replace(
    /"@(CreatedAt|StartedAt|FinishedAt)"/g,
    (_, k: keyof typeof times) => times[k].toString(),
  );
}

export function decodeStatus(text: string): Status {
  // Quote the times before parsing so that no digit is lost.
  const quoted = text.replace(
    new RegExp(`"(${TIME_KEYS.join('|')})":\\s*(-?\\d+)`, 'g'),
    (_, k: string, v: string) => `"${k}":"${v}"`,
  );
  const doc = JSON.parse(quoted);
  if (doc?.Version !== STATUS_VERSION) {
    throw new Error(`unsupported status version ${JSON.stringify(doc?.Version)}`);
  }
  const big = (v: unknown) => (typeof v === 'string' && v !== '' ? BigInt(v) : 0n);
  const s = newStatus({
    pid: Number(doc.Pid) || 0,
    createdAt: big(doc.CreatedAt),
    startedAt: big(doc.StartedAt),
    finishedAt: big(doc.FinishedAt),
    exitCode: Number(doc.ExitCode) || 0,
    reason: typeof doc.Reason === 'string' ? doc.Reason : '',
    message: typeof doc.Message === 'string' ? doc.Message : '',
  });
  if (doc.Resources) s.resources = ContainerResources.fromJSON(doc.Resources);
  return s;
}

/**
 * Writes `data` to `path` so that a crash leaves the old or the new file,
 * whole (containerd's continuity.AtomicWriteFile: the file is synced, then
 * renamed over the old one; the directory is not synced, as there).
 */
export async function atomicWriteFile(path: string, data: string, mode = 0o600): Promise<void> {
  const tmp = join(dirname(path), `.${STATUS_FILE}-${randomBytes(6).toString('hex')}`);
  const fh = await open(tmp, 'wx', mode);
  try {
    await fh.writeFile(data);
    await fh.sync();
  } finally {
    await fh.close();
  }
  try {
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}

export type UpdateFn = (s: Status) => Status;

function copy(s: Status): Status {
  return structuredClone(s);
}

/**
 * One container's status: `get` answers a copy; `update` changes memory
 * only (the transient flags `starting` and `removing`); `updateSync` also
 * checkpoints, leaves the status unchanged if the write fails, and never
 * touches those two flags. Checkpointed updates apply in call order.
 */
export class StatusStorage {
  private chain: Promise<unknown> = Promise.resolve();

  private constructor(
    private readonly path: string,
    private status: Status,
  ) {}

  /** Checkpoints `status` to `<dir>/status` (the directory must exist). */
  static async create(dir: string, status: Status): Promise<StatusStorage> {
    const path = join(dir, STATUS_FILE);
    await atomicWriteFile(path, encodeStatus(status));
    return new StatusStorage(path, copy(status));
  }

  /** `not_found` when there is no file, `data_loss` when it cannot be read as a status. */
  static async load(dir: string): Promise<Status> {
    const path = join(dir, STATUS_FILE);
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
        throw notFound(`container status ${JSON.stringify(path)}`, { cause: err });
      }
      throw err;
    }
    try {
      return decodeStatus(text);
    } catch (err) {
      throw dataLoss(`container status ${JSON.stringify(path)}: ${(err as Error).message}`, {
        cause: err,
      });
    }
  }

  get(): Status {
    return copy(this.status);
  }

  /** Applies `fn` in memory; throws what `fn` throws, leaving the status as it was. */
  update(fn: UpdateFn): void {
    this.status = fn(copy(this.status));
  }

  /** Applies `fn` and checkpoints the result; on any failure the status stays as it was. */
  updateSync(fn: UpdateFn): Promise<void> {
    const run = this.chain.then(async () => {
      const next = fn(copy(this.status));
      await atomicWriteFile(this.path, encodeStatus(next));
      // `starting` and `removing` belong to update(), which may have run during the write.
      this.status = { ...next, starting: this.status.starting, removing: this.status.removing };
    });
    this.chain = run.catch(() => {});
    return run;
  }

  /** Removes the checkpoint; idempotent. */
  async delete(): Promise<void> {
    await this.chain;
    await rm(this.path, { force: true });
  }
}
