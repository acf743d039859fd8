import { spawn } from 'node:child_process';
import { closeSync, constants, openSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConnectRequest, ConnectResponse } from '../api/containerd/task/v2/shim.js';
import { Any } from '../api/google/protobuf/any.js';
import { TtrpcClient } from '../ttrpc/client.js';
import type { ShimFlags } from './flags.js';
import { groupAddress, groupOf, isShimAlive, optionsGroup } from './group.js';

/**
 * `start` (containerd's shim protocol): runtime options on stdin (a
 * marshalled Any), the container's bundle as cwd (or -bundle). Computes the
 * group's address; if a shim answers there, prints that address; else
 * starts the daemon detached (its own session, cwd /, stderr the bundle's
 * `log` FIFO that containerd reads, or /dev/null) and waits until it
 * listens. Writes `address` and `shim.pid` into the bundle as the Go shim
 * does, prints the address. A short-lived command: sync calls are fine here.
 */

export const READY_TIMEOUT_MS = 10_000;

async function readStdin(): Promise<Buffer> {
  if (process.stdin.isTTY) return Buffer.alloc(0);
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

function annotationsOf(bundle: string): Record<string, string> | undefined {
  try {
    const spec = JSON.parse(readFileSync(join(bundle, 'config.json'), 'utf8')) as {
      annotations?: Record<string, string>;
    };
    return spec.annotations;
  } catch {
    return undefined;
  }
}

export async function start(flags: ShimFlags): Promise<void> {
  const bundle = flags.bundle || process.cwd();
  const input = await readStdin();
  let optionsValue: Uint8Array | undefined;
  if (input.length > 0) {
    try {
      optionsValue = Any.decode(input).value;
    } catch {
      optionsValue = undefined;
    }
  }
  const group = groupOf(
    annotationsOf(bundle),
    flags.namespace,
    flags.id,
    optionsGroup(optionsValue) || undefined,
  );
  const address = groupAddress(flags.address, flags.namespace, group);

  let pid = 0;
  if (await isShimAlive(address)) {
    pid = await shimPid(address);
  }
  if (pid === 0) {
    const outcome = await spawnDaemon(flags, bundle, address);
    await recordGroupShim(bundle, address, outcome);
  } else {
    writeBundleFiles(bundle, address, pid);
  }
  process.stdout.write(address);
}

/**
 * After a group daemon's answer on its ready pipe: the daemon's pid (the
 * one just started, or, when another already served the group, that one's,
 * asked over the group's socket), written with the group's address into the
 * bundle as `start` writes them. Answers that pid (0 if unknown).
 */
export async function recordGroupShim(
  bundle: string,
  address: string,
  outcome: Outcome,
  startedPid: () => number | Promise<number> = () => (outcome.kind === 'started' ? outcome.pid : 0),
): Promise<number> {
  const pid = outcome.kind === 'started' ? await startedPid() : await shimPid(address);
  writeBundleFiles(bundle, address, pid);
  return pid;
}

/** `address` and (if known) `shim.pid` in the bundle, as the Go shim's start writes them. */
export function writeBundleFiles(bundle: string, address: string, pid: number): void {
  writeFileSync(join(bundle, 'address'), address, { mode: 0o600 });
  if (pid > 0) writeFileSync(join(bundle, 'shim.pid'), String(pid), { mode: 0o600 });
}

/** The pid of the shim at `address` (Connect's shim_pid); 0 if it does not answer. */
export async function shimPid(address: string): Promise<number> {
  let client: TtrpcClient | undefined;
  try {
    client = await TtrpcClient.connect(address, { connectTimeoutMs: 2000 });
    const res = await client.call(
      'containerd.task.v2.Task',
      'Connect',
      ConnectRequest.encode({ id: '' }).finish(),
      { timeoutMs: 2000 },
    );
    return ConnectResponse.decode(res).shimPid;
  } catch {
    return 0;
  } finally {
    client?.close();
  }
}

function logFd(bundle: string): number | 'ignore' {
  try {
    return openSync(join(bundle, 'log'), constants.O_WRONLY | constants.O_NONBLOCK);
  } catch {
    return 'ignore';
  }
}

/** What a group's daemon answered on its ready pipe. */
export type Outcome = { kind: 'started'; pid: number } | { kind: 'exists' };

/** The flags a group's daemon is started with (both `start` and berthd pass these). */
export interface DaemonFlags {
  namespace: string;
  id: string;
  /** containerd's (or berthd's) gRPC socket: `-address`. */
  address: string;
  publishBinary: string;
  debug: boolean;
}

/**
 * The daemon's command line after the program: the protocol's flags and
 * `-socket <group address>`. Its fd 3 is the ready pipe ({@link readyAnswer}),
 * its stderr the bundle's `log` FIFO (or nothing), its cwd `/`, its own session.
 */
export function daemonArgs(flags: DaemonFlags, socket: string): string[] {
  return [
    '-namespace',
    flags.namespace,
    '-id',
    flags.id,
    '-address',
    flags.address,
    ...(flags.publishBinary ? ['-publish-binary', flags.publishBinary] : []),
    ...(flags.debug ? ['-debug'] : []),
    '-socket',
    socket,
  ];
}

/**
 * Reads the daemon's ready pipe to its end: `ok` once it listens (resolves
 * 'started' with `pid`), `exists` when another daemon owns the socket, else
 * why it failed (rejects). `kill` ends a daemon that does not answer within
 * READY_TIMEOUT_MS.
 */
export function readyAnswer(
  ready: NodeJS.ReadableStream | null,
  pid: () => number,
  kill: () => void,
): Promise<Outcome> {
  return new Promise((resolve, reject) => {
    let text = '';
    const timer = setTimeout(() => {
      kill();
      reject(new Error(`shim daemon did not listen within ${READY_TIMEOUT_MS} ms`));
    }, READY_TIMEOUT_MS);
    let done = false;
    const finish = (): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      try {
        resolve(outcomeOf(text, pid));
      } catch (err) {
        reject(err);
      }
    };
    if (!ready) {
      finish();
      return;
    }
    ready.setEncoding?.('utf8');
    ready.on('data', (d: string) => {
      text += d;
    });
    ready.once('end', finish);
    ready.once('close', finish);
    ready.once('error', finish);
  });
}

/** What a daemon's whole ready-pipe text says (`pid` asked only for `ok`); throws its error. */
export function outcomeOf(text: string, pid: () => number): Outcome {
  const answer = text.trim();
  if (answer === 'ok') return { kind: 'started', pid: pid() };
  if (answer === 'exists') return { kind: 'exists' };
  throw new Error(`shim daemon failed: ${answer || 'exited before listening'}`);
}

/**
 * Starts the daemon: this same program (node's flags, process.argv[1])
 * without an action, {@link daemonArgs}.
 */
function spawnDaemon(flags: ShimFlags, bundle: string, address: string): Promise<Outcome> {
  const script = process.argv[1];
  const args = [...process.execArgv, ...(script ? [script] : []), ...daemonArgs(flags, address)];
  const stderr = logFd(bundle);
  const child = spawn(process.execPath, args, {
    cwd: '/',
    detached: true,
    stdio: ['ignore', 'ignore', stderr, 'pipe'],
    env: process.env,
  });
  if (typeof stderr === 'number') closeSync(stderr);
  const failed = new Promise<never>((_, reject) => child.once('error', reject));
  const answered = readyAnswer(
    child.stdio[3] as NodeJS.ReadableStream | null,
    () => child.pid ?? 0,
    () => child.kill('SIGKILL'),
  ).finally(() => child.unref());
  return Promise.race([answered, failed]);
}
