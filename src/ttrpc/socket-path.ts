import { invalidArgument } from '../core/errdefs/index.js';

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
