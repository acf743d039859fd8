/**
 * When and how long to retry: bounded attempts with exponential backoff and
 * jitter for 408, 429 (honouring `Retry-After`), 5xx and connection failures
 * (resets, timeouts); never for other answers.
 */
import { canceled } from '../core/errdefs/index.js';

export interface RetryPolicy {
  /** Tries per request, the first included. */
  attempts: number;
  /** First backoff; doubles each retry. */
  baseMs: number;
  /** Cap on one backoff. */
  maxMs: number;
  /** Cap on a server's `Retry-After`. */
  maxRetryAfterMs: number;
  /** Times a blob download is resumed with `Range` before giving up. */
  resumes: number;
}

export const DEFAULT_RETRY: RetryPolicy = {
  attempts: 5,
  baseMs: 250,
  maxMs: 8_000,
  maxRetryAfterMs: 60_000,
  resumes: 8,
};

const RETRYABLE_STATUS = new Set([408, 429, 500, 502, 503, 504]);

export function isRetryableStatus(status: number): boolean {
  return RETRYABLE_STATUS.has(status);
}

const RETRYABLE_CODES = new Set([
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'ECONNABORTED',
  'EAI_AGAIN',
  'ENETUNREACH',
  'EHOSTUNREACH',
  'ERR_STREAM_PREMATURE_CLOSE',
  'UND_ERR_SOCKET',
]);

/** A connection-level failure worth another try (not a refused connection: the next host is). */
export function isRetryableError(err: unknown): boolean {
  const e = err as NodeJS.ErrnoException | undefined;
  if (e === undefined || e === null) return false;
  if (e.name === 'AbortError') return false;
  if (e.code !== undefined && RETRYABLE_CODES.has(e.code)) return true;
  return /socket hang up|aborted|premature close/i.test(String(e.message));
}

/** The backoff before retry number `retry` (1-based), with ±25 % jitter. */
export function backoffMs(retry: number, policy: RetryPolicy): number {
  const base = Math.min(policy.maxMs, policy.baseMs * 2 ** (retry - 1));
  return Math.round(base * (0.75 + Math.random() * 0.5));
}

/** `Retry-After` in ms (seconds or an HTTP date), capped; undefined when absent or bad. */
export function retryAfterMs(value: string | undefined, policy: RetryPolicy): number | undefined {
  if (value === undefined || value.trim() === '') return undefined;
  let ms: number;
  if (/^\d+$/.test(value.trim())) ms = Number(value.trim()) * 1000;
  else {
    const t = Date.parse(value);
    if (Number.isNaN(t)) return undefined;
    ms = t - Date.now();
  }
  return Math.max(0, Math.min(ms, policy.maxRetryAfterMs));
}

/** Waits `ms`, or rejects with `canceled` when `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(canceled('request canceled', { cause: signal.reason }));
      return;
    }
    const onAbort = () => {
      clearTimeout(t);
      reject(canceled('request canceled', { cause: signal?.reason }));
    };
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
