import { lstatSync, unlinkSync } from 'node:fs';
import { connect } from 'node:net';
import { failedPrecondition } from '../core/errdefs/index.js';

/**
 * Makes `path` free for a new listener: a stale socket file (nobody
 * answers) is removed; a live one means another daemon owns it, and that is
 * refused. Anything that is not a socket is left alone and refused.
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
  if (await answers(path)) {
    throw failedPrecondition(
      `socket ${JSON.stringify(path)}: a server is listening on it (another daemon?)`,
    );
  }
  unlinkSync(path);
}

/** True if something accepts connections on the unix socket at `path`. */
export function answers(path: string, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = connect(path);
    const timer = setTimeout(() => {
      sock.destroy();
      resolve(true); // accepted but silent still counts as alive
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
