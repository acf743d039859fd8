import { lstatSync, unlinkSync } from 'node:fs';
import { connect } from 'node:net';
import { failedPrecondition, invalidArgument } from '../core/errdefs/index.js';

const UNIX_SCHEME = 'unix://';

/** The filesystem path of a socket address: a plain path or `unix://<path>`. */
export function socketPath(address: string): string {
  if (typeof address !== 'string') throw invalidArgument('ttrpc address: must be a string');
  const path = address.startsWith(UNIX_SCHEME) ? address.slice(UNIX_SCHEME.length) : address;
  if (path === '') throw invalidArgument(`ttrpc address ${JSON.stringify(address)}: empty path`);
  if (path.includes('\0'))
    throw invalidArgument(`ttrpc address ${JSON.stringify(address)}: contains NUL`);
  return path;
}

/**
 * Makes `path` free for a listener: a stale socket (nothing accepts on it)
 * is removed; a live one is refused, and so is anything that is not a
 * socket, which is left alone.
 */
export async function claimSocketPath(path: string): Promise<void> {
  let st: ReturnType<typeof lstatSync>;
  try {
    st = lstatSync(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  if (!st.isSocket()) {
    throw failedPrecondition(`socket ${JSON.stringify(path)}: exists and is not a socket`);
  }
  if (await accepts(path)) {
    throw failedPrecondition(`socket ${JSON.stringify(path)}: a server is listening on it`);
  }
  try {
    unlinkSync(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
}

/** True if something accepts connections on the unix socket at `path`. */
function accepts(path: string, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = connect(path);
    const timer = setTimeout(() => {
      sock.destroy();
      resolve(true); // connected but slow to say so still counts as alive
    }, timeoutMs);
    sock.once('connect', () => {
      clearTimeout(timer);
      sock.destroy();
      resolve(true);
    });
    sock.once('error', () => {
      clearTimeout(timer);
      resolve(false);
    });
  });
}
