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

const READY_TIMEOUT_MS = 10_000;

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
    if (outcome.kind === 'started') pid = outcome.pid;
    else pid = await shimPid(address);
  }
  writeFileSync(join(bundle, 'address'), address, { mode: 0o600 });
  if (pid > 0) writeFileSync(join(bundle, 'shim.pid'), String(pid), { mode: 0o600 });
  process.stdout.write(address);
}

/** The pid of the shim at `address` (Connect's shim_pid); 0 if it does not answer. */
async function shimPid(address: string): Promise<number> {
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

type Outcome = { kind: 'started'; pid: number } | { kind: 'exists' };

/**
 * Starts the daemon: this same program without an action, `-socket <address>`.
 * It answers on fd 3 once listening (`ok`), or that another daemon owns the
 * socket (`exists`), or why it failed.
 */
function spawnDaemon(flags: ShimFlags, bundle: string, address: string): Promise<Outcome> {
  const script = process.argv[1];
  const args = [
    ...process.execArgv,
    ...(script ? [script] : []),
    '-namespace',
    flags.namespace,
    '-id',
    flags.id,
    '-address',
    flags.address,
    ...(flags.publishBinary ? ['-publish-binary', flags.publishBinary] : []),
    ...(flags.debug ? ['-debug'] : []),
    '-socket',
    address,
  ];
  const stderr = logFd(bundle);
  const child = spawn(process.execPath, args, {
    cwd: '/',
    detached: true,
    stdio: ['ignore', 'ignore', stderr, 'pipe'],
    env: process.env,
  });
  if (typeof stderr === 'number') closeSync(stderr);
  const ready = child.stdio[3] as NodeJS.ReadableStream | null;
  return new Promise((resolve, reject) => {
    let text = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`shim daemon did not listen within ${READY_TIMEOUT_MS} ms`));
    }, READY_TIMEOUT_MS);
    const finish = (): void => {
      clearTimeout(timer);
      child.unref();
      const answer = text.trim();
      if (answer === 'ok') resolve({ kind: 'started', pid: child.pid ?? 0 });
      else if (answer === 'exists') resolve({ kind: 'exists' });
      else reject(new Error(`shim daemon failed: ${answer || 'exited before listening'}`));
    };
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    if (!ready) {
      finish();
      return;
    }
    ready.setEncoding?.('utf8');
    ready.on('data', (d: string) => {
      text += d;
    });
    ready.once('end', finish);
    ready.once('error', finish);
  });
}
