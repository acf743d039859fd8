/**
 * Registry authorization, per endpoint host, learned from 401 challenges as
 * containerd's docker authorizer does:
 *
 * - requests go out anonymously until a host answers 401;
 * - `Basic`: the host's credentials on every request (none: the 401 stands);
 * - `Bearer realm,service[,scope]`: a token per scope set from the realm —
 *   `GET realm?service=…&scope=…` with Basic credentials when there are some,
 *   or, for an identity token, `POST` `grant_type=refresh_token` — cached
 *   until `expires_in` (default 60 s) and fetched again after a 401.
 *
 * - credentials that carry a whole `Authorization` header: that header, as
 *   it is, whatever the challenge (refused once: the 401 stands).
 *
 * Credentials are asked for by the endpoint's own host name, so a mirror
 * never gets the credentials of the registry it mirrors.
 */
import type { Agent } from 'node:http';
import { type BerthError, newError } from '../core/errdefs/index.js';
import type { Logger } from '../core/log/index.js';
import { type Challenge, parseChallenges, pickChallenge } from './challenge.js';
import type { Credentials, CredentialsFn } from './credentials.js';
import { kindOfStatus, readErrorBody, registryErrorText, requestName } from './errors.js';
import { discard, type Headers, send } from './http.js';
import { type Token, TokenCache } from './token-cache.js';

/** Sent as `client_id` in OAuth token requests. */
const CLIENT_ID = 'berth';

type Handler =
  | { scheme: 'basic' | 'header'; authorization: string }
  | {
      scheme: 'bearer';
      realm: string;
      service?: string;
      creds?: Credentials;
      /** The endpoint's connection pool (its TLS settings), used for a realm of the same scheme, as containerd uses the host's client. */
      agent?: Agent;
    };

export interface AuthorizerOptions {
  credentials?: CredentialsFn;
  /** Headers for token requests (User-Agent). */
  headers?: Headers;
  log?: Logger;
  tokens?: TokenCache;
}

/** What a 401 taught: whether to try again, and scopes the challenge asked for. */
export interface ChallengeAnswer {
  retry: boolean;
  scopes: string[];
}

export class Authorizer {
  private readonly handlers = new Map<string, Handler>();
  private readonly creds = new Map<string, Promise<Credentials | undefined>>();
  private readonly tokens: TokenCache;

  constructor(private readonly opts: AuthorizerOptions = {}) {
    this.tokens = opts.tokens ?? new TokenCache();
  }

  /** The `Authorization` value for a request to `host` needing `scopes`; undefined: anonymous. */
  async authorization(
    host: string,
    scopes: readonly string[],
    signal?: AbortSignal,
  ): Promise<string | undefined> {
    const h = this.handlers.get(host);
    if (h === undefined) return undefined;
    if (h.scheme !== 'bearer') return h.authorization;
    const key = TokenCache.key(host, scopes);
    const t = await this.tokens.get(key, () => this.fetchToken(h, scopes, signal));
    return `Bearer ${t.token}`;
  }

  /**
   * Learns from a 401 answer to a request that carried `sent` (undefined:
   * anonymous). Returns `retry: false` when another try cannot help: no
   * known scheme, no credentials for Basic, or the credentials were refused.
   */
  async challenge(
    host: string,
    wwwAuthenticate: readonly string[] | undefined,
    scopes: readonly string[],
    sent: string | undefined,
    endpoint?: { scheme: string; agent: Agent },
  ): Promise<ChallengeAnswer> {
    const c = pickChallenge(parseChallenges(wwwAuthenticate));
    if (c === undefined) return { retry: false, scopes: [] };
    const have = this.handlers.get(host);
    // The client's header was refused (or this request went out before it was learned).
    if (have?.scheme === 'header') return { retry: sent !== have.authorization, scopes: [] };
    const header = (await this.credentials(host))?.header;
    if (header !== undefined && header !== '') {
      this.handlers.set(host, { scheme: 'header', authorization: header });
      return { retry: true, scopes: [] };
    }
    if (c.scheme === 'bearer') return this.bearerChallenge(host, c, scopes, sent, endpoint);
    if (sent?.startsWith('Basic ')) return { retry: false, scopes: [] }; // credentials refused
    const creds = await this.credentials(host);
    if (creds === undefined || creds.username === '' || creds.secret === '') {
      return { retry: false, scopes: [] };
    }
    const basic = Buffer.from(`${creds.username}:${creds.secret}`).toString('base64');
    this.handlers.set(host, { scheme: 'basic', authorization: `Basic ${basic}` });
    return { retry: true, scopes: [] };
  }

  private async bearerChallenge(
    host: string,
    c: Challenge,
    scopes: readonly string[],
    sent: string | undefined,
    endpoint?: { scheme: string; agent: Agent },
  ): Promise<ChallengeAnswer> {
    const realm = c.params.realm;
    if (realm === undefined || realm === '') return { retry: false, scopes: [] };
    let realmUrl: URL;
    try {
      realmUrl = new URL(realm);
    } catch {
      return { retry: false, scopes: [] };
    }
    const extra = (c.params.scope ?? '').split(' ').filter((s) => s !== '');
    const have = this.handlers.get(host);
    if (
      have?.scheme === 'bearer' &&
      have.realm === realm &&
      have.service === c.params.service &&
      sent?.startsWith('Bearer ')
    ) {
      // The token was refused (expired early, revoked, or short of a scope): fetch another.
      this.tokens.invalidate(TokenCache.key(host, scopes), sent.slice('Bearer '.length));
      return { retry: true, scopes: extra };
    }
    const creds = await this.credentials(host);
    const h: Handler = { scheme: 'bearer', realm };
    if (c.params.service !== undefined) h.service = c.params.service;
    if (creds !== undefined) h.creds = creds;
    if (endpoint !== undefined && realmUrl.protocol === `${endpoint.scheme}:`)
      h.agent = endpoint.agent;
    this.handlers.set(host, h);
    return { retry: true, scopes: extra };
  }

  /**
   * A host's credentials, asked once per authorizer (a resolver's life):
   * requests that meet their first 401 together start one helper, not one each.
   */
  private credentials(host: string): Promise<Credentials | undefined> {
    const fn = this.opts.credentials;
    if (fn === undefined) return Promise.resolve(undefined);
    let p = this.creds.get(host);
    if (p === undefined) {
      p = fn(host);
      this.creds.set(host, p);
      p.catch(() => this.creds.delete(host));
    }
    return p;
  }

  private async fetchToken(
    h: Extract<Handler, { scheme: 'bearer' }>,
    scopes: readonly string[],
    signal?: AbortSignal,
  ): Promise<Token> {
    const url = new URL(h.realm);
    const headers: Headers = { ...this.opts.headers, accept: 'application/json' };
    let method = 'GET';
    let body: Buffer | undefined;
    const creds = h.creds;
    if (creds !== undefined && creds.username === '') {
      // An identity token is an OAuth2 refresh token.
      method = 'POST';
      const form = new URLSearchParams();
      form.set('grant_type', 'refresh_token');
      form.set('refresh_token', creds.secret);
      if (h.service !== undefined) form.set('service', h.service);
      if (scopes.length > 0) form.set('scope', [...scopes].join(' '));
      form.set('client_id', CLIENT_ID);
      body = Buffer.from(form.toString());
      headers['content-type'] = 'application/x-www-form-urlencoded; charset=utf-8';
      headers['content-length'] = String(body.length);
    } else {
      if (h.service !== undefined) url.searchParams.append('service', h.service);
      for (const s of scopes) url.searchParams.append('scope', s);
      if (creds !== undefined) {
        headers.authorization = `Basic ${Buffer.from(`${creds.username}:${creds.secret}`).toString('base64')}`;
      }
    }
    const what = `token from ${requestName(method, url)}`;
    let res: import('node:http').IncomingMessage;
    try {
      res = await send({
        method,
        url,
        headers,
        ...(body ? { body } : {}),
        ...(signal ? { signal } : {}),
        ...(h.agent ? { agent: h.agent } : {}),
      });
    } catch (err) {
      throw newError('unavailable', `${what}: ${(err as Error).message}`, { cause: err });
    }
    const status = res.statusCode ?? 0;
    const text = await readErrorBody(res);
    if (status < 200 || status >= 300) {
      discard(res);
      throw tokenError(status, what, text);
    }
    let parsed: { token?: unknown; access_token?: unknown; expires_in?: unknown };
    try {
      parsed = JSON.parse(text) as typeof parsed;
    } catch {
      throw newError('unknown', `${what}: answer is not JSON`);
    }
    const token =
      typeof parsed.token === 'string' && parsed.token !== ''
        ? parsed.token
        : typeof parsed.access_token === 'string'
          ? parsed.access_token
          : '';
    if (token === '') throw newError('unknown', `${what}: answer has no token`);
    this.opts.log?.debug({ realm: h.realm, scopes }, 'registry token fetched');
    return { token, expiresAt: this.tokens.expiry(parsed.expires_in) };
  }
}

function tokenError(status: number, what: string, body: string): BerthError {
  const text = registryErrorText(body);
  const kind = status === 400 ? 'unauthenticated' : kindOfStatus(status);
  return newError(kind, `${what}: ${status}${text ? `: ${text}` : ''}`);
}
