/**
 * PortForward's runtime side: a TCP connection to `localhost:<port>` inside
 * a pod's network namespace, piped both ways with the client's stream.
 *
 * Why a worker thread: setns(2) with CLONE_NEWNET moves only the calling
 * thread, and a socket belongs to the namespace of the thread that creates
 * it (containerd does the same with a locked OS thread in netns.Do). The
 * daemon's main thread must never change namespace (one failed setns back
 * would leave every later socket of berthd's in a pod), so a short-lived
 * worker enters the pod's namespace, makes and connects the socket with
 * blocking syscalls, hands the file descriptor (process-wide) to the main
 * thread and ends, taking its namespace with it. The main thread wraps the
 * fd in a net.Socket. Spawning `nsenter` would need a relay program in the
 * host's root (socat is not installed here) and a process per connection.
 *
 * koffi is loaded inside the worker from the path the main thread resolves
 * (the eval'd worker has no module resolution of its own); these four libc
 * calls are thread-bound, so they live here rather than in src/sys/linux.ts,
 * whose calls are meant for any thread.
 */
import { createRequire } from 'node:module';
import { connect, Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { Worker } from 'node:worker_threads';
import { invalidArgument, newError } from '../../core/errdefs/index.js';

const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const { openSync, closeSync } = require('node:fs');
const koffi = require(workerData.koffi);
const libc = koffi.load('libc.so.6');
const setns = libc.func('int setns(int fd, int nstype)');
const socket = libc.func('int socket(int domain, int type, int protocol)');
const connect = libc.func('int connect(int fd, void *addr, uint32_t len)');
const close = libc.func('int close(int fd)');
const CLONE_NEWNET = 0x40000000, SOCK_STREAM = 1, SOCK_CLOEXEC = 0x80000;
const fail = (what) => { const errno = koffi.errno(); return { error: what, errno }; };
function dial() {
  const nsfd = openSync(workerData.netns, 'r');
  try {
    if (setns(nsfd, CLONE_NEWNET) !== 0) return fail('setns');
  } finally {
    closeSync(nsfd);
  }
  let last;
  // localhost: IPv4, then IPv6 (a server may listen on either).
  for (const family of [2, 10]) {
    const fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) { last = fail('socket'); continue; }
    const addr = Buffer.alloc(family === 2 ? 16 : 28);
    addr.writeUInt16LE(family, 0);
    addr.writeUInt16BE(workerData.port, 2);
    if (family === 2) { addr[4] = 127; addr[7] = 1; } else { addr[23] = 1; }
    if (connect(fd, addr, addr.length) === 0) return { fd };
    last = fail('connect');
    close(fd);
  }
  return last;
}
let result;
try { result = dial(); } catch (err) { result = { error: String(err && err.message || err), errno: 0 }; }
parentPort.postMessage(result);
`;

const ERRNO_NAMES: Record<number, string> = {
  111: 'ECONNREFUSED',
  2: 'ENOENT',
  1: 'EPERM',
  101: 'ENETUNREACH',
};

/** Connects to `localhost:<port>` inside the network namespace pinned at `netnsPath`. */
export async function dialInNetns(netnsPath: string, port: number): Promise<Socket> {
  if (!Number.isInteger(port) || port <= 0 || port > 65535) {
    throw invalidArgument(`port ${port} is not a valid TCP port`);
  }
  const koffi = createRequire(import.meta.url).resolve('koffi');
  const worker = new Worker(WORKER_SOURCE, {
    eval: true,
    workerData: { koffi, netns: netnsPath, port },
  });
  const result = await new Promise<{ fd?: number; error?: string; errno?: number }>(
    (resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
      worker.once('exit', (code) =>
        reject(new Error(`port-forward worker exited with code ${code}`)),
      );
    },
  ).finally(() => void worker.terminate());
  if (result.fd === undefined) {
    const code = ERRNO_NAMES[result.errno ?? 0] ?? `errno ${result.errno}`;
    const err = newError(
      'unavailable',
      `failed to connect to localhost:${port} inside namespace ${JSON.stringify(netnsPath)}: ${result.error}: ${code}`,
    );
    (err as Error & { code?: string }).code = code;
    throw err;
  }
  return new Socket({ fd: result.fd, readable: true, writable: true });
}

/**
 * Pipes `stream` and `socket` both ways until both directions are done; a
 * reset on either side ends the other. Resolves when the socket closes.
 */
export function pipeBoth(stream: Duplex, socket: Socket): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    let failed: Error | undefined;
    const onError = (err: Error) => {
      failed ??= err;
      socket.destroy();
      stream.destroy();
    };
    socket.on('error', onError);
    stream.on('error', onError);
    stream.pipe(socket);
    socket.pipe(stream);
    socket.on('close', () => (failed !== undefined ? reject(failed) : resolve()));
  });
}

/** Connects to `localhost:<port>` in berthd's own network namespace (host-network pods). */
export function dialHost(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.off('error', reject);
      resolve(socket);
    });
    socket.once('error', reject);
  });
}
