import type { Readable, Writable } from 'node:stream';
import { invalidArgument } from '../../core/errdefs/index.js';
import { Labels, type PortMapping } from '../labels.js';
import { attachNetwork, releaseNetwork } from './attach.js';
import { containerFilePaths, hostsContent, writeInPlace } from './files.js';
import { type HookFlags, parseHookArgs } from './flags.js';

/** The hooks berth puts in a spec: runtime-spec's `createRuntime` and `poststop`. */
export type HookStage = 'createRuntime' | 'postStop';

/** The OCI state runc writes on a hook's stdin (runtime-spec "State"). */
export interface OciState {
  ociVersion: string;
  id: string;
  status: string;
  /** The container's init process; 0 or absent once it is gone (poststop). */
  pid?: number;
  bundle: string;
  annotations?: Record<string, string>;
}

async function readAll(stream: Readable): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(typeof c === 'string' ? Buffer.from(c) : c);
  return Buffer.concat(chunks).toString('utf8');
}

/** Parses the OCI state; invalid_argument when it is not one. */
export function parseOciState(text: string): OciState {
  let raw: Partial<OciState>;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw invalidArgument(`oci hook: the state on stdin is not JSON: ${(e as Error).message}`);
  }
  if (typeof raw !== 'object' || raw === null || typeof raw.id !== 'string' || raw.id === '') {
    throw invalidArgument('oci hook: the state on stdin has no container "id"');
  }
  return raw as OciState;
}

function parsePorts(text: string | undefined): PortMapping[] {
  if (!text) return [];
  try {
    const v = JSON.parse(text);
    if (Array.isArray(v)) return v as PortMapping[];
  } catch {
    // Reported below.
  }
  throw invalidArgument(
    `oci hook: annotation ${Labels.ports} is not a JSON list: ${JSON.stringify(text)}`,
  );
}

async function createRuntime(flags: HookFlags, state: OciState): Promise<void> {
  const ann = state.annotations ?? {};
  const network = ann[Labels.network] || 'bridge';
  if (network === 'host') return;
  if (!state.pid || state.pid <= 0) throw invalidArgument('oci hook: the state has no "pid"');
  const ports = parsePorts(ann[Labels.ports]);
  const attached = await attachNetwork(flags, {
    namespace: flags.namespace,
    id: state.id,
    network,
    netnsPath: `/proc/${state.pid}/ns/net`,
    ports,
  });
  const stateDir = ann[Labels.stateDir];
  if (!stateDir) return;
  try {
    const hostname = ann[Labels.hostname] ?? '';
    const name = ann[Labels.name];
    writeInPlace(
      containerFilePaths(stateDir).hosts,
      hostsContent({ ips: attached.ips, hostname, ...(name ? { name } : {}) }),
    );
  } catch (e) {
    await releaseNetwork(flags, flags.namespace, state.id);
    throw e;
  }
}

/**
 * The body of `berth internal oci-hook <stage>`, run by runc with the OCI
 * state on `stdin`. createRuntime (container's namespaces made, its process
 * not started yet): CNI ADD on the container's netns (`none`: loopback
 * only; `host`: nothing), then its /etc/hosts gets its address. A failure
 * leaves no network behind and throws: the hook's non-zero exit makes runc
 * fail the create. postStop (the container's processes are gone): CNI DEL
 * from the cached results; idempotent, so running it twice, or after a
 * createRuntime that failed, is fine.
 *
 * The container's settings come from the spec's annotations, which runc
 * passes in the state: `berth/network`, `berth/ports`, `berth/hostname`,
 * `berth/name`, `berth/state-dir` (see {@link networkSpec}).
 */
export async function runOciHook(
  stage: HookStage,
  flags: HookFlags,
  stdin: Readable,
): Promise<void> {
  const state = parseOciState(await readAll(stdin));
  if (stage === 'createRuntime') await createRuntime(flags, state);
  else if (stage === 'postStop') await releaseNetwork(flags, flags.namespace, state.id);
  else throw invalidArgument(`oci hook: unknown stage ${JSON.stringify(stage)}`);
}

/**
 * `berth internal oci-hook <stage> <hook args>` whole: parses `argv` (the
 * stage, then what {@link hookArgs} made; anything else is ignored), runs
 * the hook, and answers the exit code: 0, or 1 with a one-line message on
 * `stderr` (runc quotes a failing hook's stderr in its own error).
 */
export async function ociHookMain(
  argv: readonly string[],
  stdin: Readable,
  stderr: Writable,
): Promise<number> {
  const stage = argv[0];
  try {
    if (stage !== 'createRuntime' && stage !== 'postStop') {
      throw invalidArgument(
        `oci hook: stage must be createRuntime or postStop, not ${JSON.stringify(stage)}`,
      );
    }
    const { flags } = parseHookArgs(argv.slice(1));
    await runOciHook(stage, flags, stdin);
    return 0;
  } catch (e) {
    stderr.write(`berth oci-hook ${stage ?? ''}: ${(e as Error).message}\n`);
    return 1;
  }
}
