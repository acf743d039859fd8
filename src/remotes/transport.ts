/**
 * Requests to registry endpoints with what every request needs: the
 * configured headers, authorization (answering 401 challenges), redirects
 * for GET and HEAD (Authorization is dropped when the redirect leaves the
 * endpoint's origin: registries send blobs to storage elsewhere), and
 * bounded retries with backoff on 408, 429 (honouring Retry-After), 5xx and
 * connection resets and timeouts — when the body can be sent again.
 */
import type { IncomingMessage } from 'node:http';
import { canceled, isBerthError, kindOf, newError } from '../core/errdefs/index.js';
import type { Logger } from '../core/log/index.js';
import type { Authorizer } from './auth.js';
import { readErrorBody, requestName, statusErrorOf, transportError } from './errors.js';
import type { RegistryHost } from './hosts.js';
import { discard, type Headers, header, send } from './http.js';
import {
  backoffMs,
  isRetryableError,
  isRetryableStatus,
  type RetryPolicy,
  retryAfterMs,
  sleep,
} from './retry.js';

const MAX_REDIRECTS = 10;
const REDIRECT_STATUS = new Set([301, 302, 303, 307, 308]);
/** How many 401s one request answers (a new token, then a refreshed one) before the 401 stands. */
const MAX_AUTH_ROUNDS = 3;

export interface RegistryRequest {
  /** For messages: `pull 127.0.0.1:5000/x:latest`. */
  op: string;
  method: string;
  host: RegistryHost;
  url: URL;
  headers?: Headers;
  /** Token scopes the request needs (`repository:x:pull`). */
  scopes: readonly string[];
  /** A buffer (sent again on retry), or a one-shot stream (no retries once sent). */
  body?: Buffer | AsyncIterable<Buffer>;
  signal?: AbortSignal;
}

export interface RegistryResponse {
  res: IncomingMessage;
  /** Where the answer came from (after redirects). */
  url: URL;
}

export interface TransportOptions {
  authorizer: Authorizer;
  headers: Headers;
  retry: RetryPolicy;
  log?: Logger;
  idleTimeoutMs?: number;
}

export class Transport {
  constructor(readonly opts: TransportOptions) {}

  get retry(): RetryPolicy {
    return this.opts.retry;
  }

  /**
   * Sends `req` and answers its response once it is not a 401 that
   * credentials can answer and not a retryable failure (or the retries are
   * spent). Any status is returned: the caller decides what it expects.
   */
  async do(req: RegistryRequest): Promise<RegistryResponse> {
    const replayable = req.body === undefined || Buffer.isBuffer(req.body);
    let scopes = [...req.scopes];
    let authRounds = 0;
    for (let attempt = 1; ; attempt++) {
      const headers: Headers = { ...this.opts.headers, ...req.host.header, ...req.headers };
      let authorization: string | undefined;
      try {
        authorization = await this.opts.authorizer.authorization(req.host.host, scopes, req.signal);
      } catch (err) {
        throw this.wrap(req, err);
      }
      if (authorization !== undefined) headers.authorization = authorization;

      let r: RegistryResponse;
      try {
        r = await this.follow(req, headers);
      } catch (err) {
        if (req.signal?.aborted)
          throw canceled(`${req.op}: canceled`, { cause: req.signal.reason });
        // Our own errors (a request body that failed its checks) pass as they are.
        if (isBerthError(err)) throw err;
        if (replayable && isRetryableError(err) && attempt < this.opts.retry.attempts) {
          const ms = backoffMs(attempt, this.opts.retry);
          this.opts.log?.debug(
            { url: String(req.url), err: String(err), ms },
            'registry request failed; retrying',
          );
          await sleep(ms, req.signal);
          continue;
        }
        throw transportError(req.op, req.method, req.url, err);
      }
      const status = r.res.statusCode ?? 0;

      if (status === 401 && replayable && authRounds < MAX_AUTH_ROUNDS) {
        const challenges = r.res.headersDistinct['www-authenticate'];
        const body = req.method === 'HEAD' ? '' : await readErrorBody(r.res);
        discard(r.res);
        let answer: { retry: boolean; scopes: string[] };
        try {
          answer = await this.opts.authorizer.challenge(
            req.host.host,
            challenges,
            scopes,
            authorization,
            req.host,
          );
        } catch (err) {
          throw this.wrap(req, err);
        }
        if (answer.retry) {
          authRounds++;
          scopes = [...new Set([...scopes, ...answer.scopes])];
          attempt--; // an auth round is not a failure
          continue;
        }
        throw statusErrorOf(req.op, req.method, r.url, status, body);
      }

      if (isRetryableStatus(status) && replayable && attempt < this.opts.retry.attempts) {
        const after = retryAfterMs(header(r.res, 'retry-after'), this.opts.retry);
        const ms = after ?? backoffMs(attempt, this.opts.retry);
        discard(r.res);
        this.opts.log?.debug({ url: String(req.url), status, ms }, 'registry busy; retrying');
        await sleep(ms, req.signal);
        continue;
      }
      return r;
    }
  }

  /** One request, following redirects for GET and HEAD. */
  private async follow(req: RegistryRequest, headers: Headers): Promise<RegistryResponse> {
    let url = req.url;
    let hdrs = headers;
    const origin = req.url.origin;
    for (let hops = 0; ; hops++) {
      const sameOrigin = url.origin === origin;
      const res = await send({
        method: req.method,
        url,
        headers: hdrs,
        ...(req.body !== undefined ? { body: req.body } : {}),
        ...(sameOrigin ? { agent: req.host.agent } : {}),
        ...(req.signal ? { signal: req.signal } : {}),
        ...(this.opts.idleTimeoutMs ? { idleTimeoutMs: this.opts.idleTimeoutMs } : {}),
      });
      const status = res.statusCode ?? 0;
      const location = header(res, 'location');
      if (
        !REDIRECT_STATUS.has(status) ||
        location === undefined ||
        (req.method !== 'GET' && req.method !== 'HEAD')
      ) {
        return { res, url };
      }
      discard(res);
      if (hops >= MAX_REDIRECTS) {
        throw newError(
          'unavailable',
          `stopped after ${MAX_REDIRECTS} redirects (last to ${location})`,
        );
      }
      const next = new URL(location, url);
      if (next.origin !== origin && hdrs.authorization !== undefined) {
        // Credentials and tokens belong to the endpoint, not to where it sends us.
        const { authorization: _, ...rest } = hdrs;
        hdrs = rest;
      }
      this.opts.log?.debug({ from: String(url), to: String(next) }, 'registry redirect');
      url = next;
    }
  }

  private wrap(req: RegistryRequest, err: unknown): Error {
    if (req.signal?.aborted) return canceled(`${req.op}: canceled`, { cause: req.signal.reason });
    const msg = `${req.op}: ${requestName(req.method, req.url)}: ${(err as Error).message}`;
    return newError(isBerthError(err) ? kindOf(err) : 'unknown', msg, { cause: err });
  }
}
