import { Socket } from 'node:net';

/**
 * A spare daemon (`-spare`): berthd starts one ahead of need, and when a
 * container's group has no shim yet it hands that group to the spare
 * instead of starting a daemon then, which takes a node start (~60 ms) off
 * the container's create. The spare has loaded its modules, made itself
 * the subreaper and asked runc its version; it holds no socket and no lock.
 *
 * The order comes as one JSON line on fd {@link SPARE_ORDER_FD}, a pipe from
 * berthd: the flags `start` would have given a new group daemon. From then
 * on the spare is that group's daemon, exactly as if started for it (its
 * ready pipe on fd 3 answers `ok`, `exists` or the error). The end of the
 * pipe before an order (berthd stopped, or died) ends the spare.
 */

export const SPARE_ORDER_FD = 4;

/** What the spare becomes: the group daemon of `socket`. */
export interface SpareOrder {
  namespace: string;
  /** The container whose create asked for the group (the daemon's `-id`). */
  id: string;
  /** The daemon's gRPC socket (`-address`). */
  address: string;
  publishBinary: string;
  /** The group's ttrpc address to serve on (`-socket`). */
  socket: string;
  /** The container bundle's `log` FIFO, the daemon's stderr from then on ('' for none). */
  log: string;
}

const FIELDS = ['namespace', 'id', 'address', 'publishBinary', 'socket', 'log'] as const;

/** The order as the line berthd writes. */
export function encodeSpareOrder(order: SpareOrder): string {
  const o: Record<string, string> = {};
  for (const k of FIELDS) o[k] = order[k];
  return `${JSON.stringify(o)}\n`;
}

/** Parses and checks an order line; throws naming what is wrong. */
export function parseSpareOrder(line: string): SpareOrder {
  let raw: unknown;
  try {
    raw = JSON.parse(line);
  } catch {
    throw new Error(`spare order is not JSON: ${JSON.stringify(line.slice(0, 200))}`);
  }
  if (typeof raw !== 'object' || raw === null) throw new Error('spare order is not an object');
  const r = raw as Record<string, unknown>;
  for (const k of FIELDS) {
    if (typeof r[k] !== 'string') throw new Error(`spare order has no string ${k}`);
  }
  const order = r as unknown as SpareOrder;
  if (order.namespace === '') throw new Error('spare order: shim namespace cannot be empty');
  if (order.socket === '') throw new Error('spare order: no socket to serve on');
  return order;
}

/**
 * Waits for the order on `fd` (then closes it): the line's text, or
 * undefined when the pipe ended (or failed) before a whole line came.
 */
export function readSpareOrder(fd: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    let sock: Socket;
    try {
      sock = new Socket({ fd, readable: true, writable: false });
    } catch {
      resolve(undefined);
      return;
    }
    let text = '';
    let done = false;
    const finish = (line: string | undefined): void => {
      if (done) return;
      done = true;
      sock.destroy();
      resolve(line);
    };
    sock.setEncoding('utf8');
    sock.on('data', (d: string) => {
      text += d;
      const nl = text.indexOf('\n');
      if (nl >= 0) finish(text.slice(0, nl));
      else if (text.length > 1 << 16) finish(undefined);
    });
    sock.once('end', () => finish(undefined));
    sock.once('close', () => finish(undefined));
    sock.once('error', () => finish(undefined));
  });
}
