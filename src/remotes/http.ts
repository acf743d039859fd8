/**
 * One HTTP exchange over node's http/https: sends the request (a buffer or a
 * stream of buffers, written with backpressure) and resolves with the
 * response once its headers arrive; the caller reads or discards the body.
 * A socket idle for `idleTimeoutMs` (connecting, waiting or mid-body) is
 * destroyed with ETIMEDOUT, so a stalled registry surfaces as a retryable error.
 */
import { type Agent, request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';

export type Headers = Record<string, string | string[]>;

export interface SendOptions {
  method: string;
  url: URL;
  headers: Headers;
  /** A buffer, or a stream of buffers written as they come. */
  body?: Buffer | AsyncIterable<Buffer>;
  agent?: Agent;
  signal?: AbortSignal;
  idleTimeoutMs?: number;
}

export const DEFAULT_IDLE_TIMEOUT_MS = 30_000;

function timeoutError(url: URL, ms: number): NodeJS.ErrnoException {
  const err: NodeJS.ErrnoException = new Error(`no data from ${url.host} for ${ms} ms`);
  err.code = 'ETIMEDOUT';
  return err;
}

export function send(opts: SendOptions): Promise<IncomingMessage> {
  const { url } = opts;
  const request = url.protocol === 'https:' ? httpsRequest : httpRequest;
  const idle = opts.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS;
  return new Promise<IncomingMessage>((resolve, reject) => {
    const req = request(url, {
      method: opts.method,
      headers: opts.headers,
      ...(opts.agent ? { agent: opts.agent } : {}),
      ...(opts.signal ? { signal: opts.signal } : {}),
    });
    let settled = false;
    const fail = (err: Error) => {
      if (settled) return;
      settled = true;
      reject(err);
    };
    req.setTimeout(idle, () => req.destroy(timeoutError(url, idle)));
    req.once('error', fail);
    req.once('response', (res) => {
      settled = true;
      // The response inherits the request's idle timeout through the socket;
      // errors after this point surface on the response stream.
      req.removeListener('error', fail);
      req.on('error', (err) => res.destroy(err));
      resolve(res);
    });
    const body = opts.body;
    if (body === undefined) {
      req.end();
    } else if (Buffer.isBuffer(body)) {
      req.end(body);
    } else {
      writeStream(req, body).then(
        () => req.end(),
        (err: Error) => req.destroy(err),
      );
    }
  });
}

async function writeStream(
  req: import('node:http').ClientRequest,
  body: AsyncIterable<Buffer>,
): Promise<void> {
  for await (const chunk of body) {
    if (req.destroyed) return;
    if (!req.write(chunk)) {
      await new Promise<void>((resolve, reject) => {
        const done = () => {
          req.removeListener('drain', done);
          req.removeListener('close', closed);
          resolve();
        };
        const closed = () => {
          req.removeListener('drain', done);
          reject(new Error('request closed while writing its body'));
        };
        req.once('drain', done);
        req.once('close', closed);
      });
    }
  }
}

/** The first value of a response header. */
export function header(res: IncomingMessage, name: string): string | undefined {
  const v = res.headers[name.toLowerCase()];
  return Array.isArray(v) ? v[0] : v;
}

/** Discards a response's body (the socket goes back to the pool when it is fully read). */
export function discard(res: IncomingMessage): void {
  res.resume();
  res.on('error', () => {});
}
