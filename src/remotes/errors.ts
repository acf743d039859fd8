/**
 * Registry errors in the core vocabulary. Every message names the operation
 * (`pull docker.io/library/busybox:latest`), the request (method and URL) and
 * the reason: the HTTP status and the registry's own error codes, e.g.
 * `pull 127.0.0.1:5000/x:latest: GET http://127.0.0.1:5000/v2/x/manifests/latest:
 * 401 Unauthorized: UNAUTHORIZED: authentication required`.
 */
import type { IncomingMessage } from 'node:http';
import { STATUS_CODES } from 'node:http';
import { type BerthError, type ErrorKind, newError, unavailable } from '../core/errdefs/index.js';

/** How much of an error body is read to find the registry's error codes. */
const MAX_ERROR_BODY = 64 * 1024;

/** The kind an HTTP status maps to (401 unauthenticated, 403 permission_denied, ...). */
export function kindOfStatus(status: number): ErrorKind {
  if (status === 401) return 'unauthenticated';
  if (status === 403) return 'permission_denied';
  if (status === 404) return 'not_found';
  if (status === 408 || status === 429 || status >= 500) return 'unavailable';
  if (status === 409) return 'conflict';
  if (status === 416) return 'out_of_range';
  if (status === 400 || status === 405 || status === 413) return 'invalid_argument';
  return 'unknown';
}

/** `UNAUTHORIZED: authentication required; DENIED: ...` from distribution's `{errors: [...]}` body. */
export function registryErrorText(body: string): string {
  try {
    const parsed = JSON.parse(body) as {
      errors?: { code?: unknown; message?: unknown }[];
      details?: unknown;
    };
    if (Array.isArray(parsed.errors) && parsed.errors.length > 0) {
      return parsed.errors
        .map((e) => [e.code, e.message].filter((x) => typeof x === 'string' && x !== '').join(': '))
        .filter((s) => s !== '')
        .join('; ');
    }
  } catch {
    // not JSON: the text itself, trimmed
  }
  return body.replace(/\s+/g, ' ').trim().slice(0, 200);
}

/** Reads at most {@link MAX_ERROR_BODY} bytes of `res` as text and discards the rest. */
export async function readErrorBody(res: IncomingMessage): Promise<string> {
  const parts: Buffer[] = [];
  let n = 0;
  try {
    for await (const chunk of res as AsyncIterable<Buffer>) {
      if (n < MAX_ERROR_BODY) {
        parts.push(chunk.subarray(0, MAX_ERROR_BODY - n));
        n += chunk.length;
      }
    }
  } catch {
    // a body cut short still says what it had
  }
  return Buffer.concat(parts).toString('utf8');
}

/** `GET http://host/v2/...` for messages (query strings kept: they name digests, not secrets). */
export function requestName(method: string, url: URL): string {
  return `${method} ${url.origin}${url.pathname}${url.search}`;
}

/**
 * The error for an unexpected answer: reads the body for the registry's
 * error codes and maps the status to a kind.
 */
export async function statusError(
  op: string,
  method: string,
  url: URL,
  res: IncomingMessage,
): Promise<BerthError> {
  const status = res.statusCode ?? 0;
  const body = method === 'HEAD' ? '' : await readErrorBody(res);
  res.resume();
  return statusErrorOf(op, method, url, status, body);
}

export function statusErrorOf(
  op: string,
  method: string,
  url: URL,
  status: number,
  body: string,
): BerthError {
  const text = registryErrorText(body);
  const statusText = `${status} ${STATUS_CODES[status] ?? 'Unknown'}`;
  const msg = `${op}: ${requestName(method, url)}: ${statusText}${text ? `: ${text}` : ''}`;
  return newError(kindOfStatus(status), msg);
}

/** A connection-level failure (reset, refused, timeout, TLS) as `unavailable`. */
export function transportError(op: string, method: string, url: URL, err: unknown): BerthError {
  const e = err as NodeJS.ErrnoException;
  const reason =
    e?.code && !String(e.message).includes(e.code) ? `${e.code}: ${e.message}` : e?.message;
  return unavailable(`${op}: ${requestName(method, url)}: ${reason ?? String(err)}`, {
    cause: err,
  });
}

/** A bad answer from a registry that is not an HTTP error (missing headers, bad JSON). */
export function protocolError(op: string, method: string, url: URL, why: string): BerthError {
  return newError('unknown', `${op}: ${requestName(method, url)}: ${why}`);
}
