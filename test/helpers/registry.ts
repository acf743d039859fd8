import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { createSign, randomUUID, X509Certificate } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createServer } from 'node:net';
import { join } from 'node:path';
import type { TempDir } from './tmp.js';

/** The binary Debian's docker-registry package installs (distribution 2.8). */
export const REGISTRY_BIN = '/usr/bin/docker-registry';

const MAX_OUTPUT = 256 * 1024;

export interface RegistryOptions {
  /** How long to wait for `GET /v2/` to answer 200 (401 with auth) (ms). */
  startTimeoutMs?: number;
  /** Registry log level (`error`, `warn`, `info`, `debug`); default `warn`. */
  logLevel?: string;
  /** How much of its log `output` keeps (bytes); default 256 KiB. At `info`, each request is a line. */
  maxOutput?: number;
  /** htpasswd (Basic) auth for these users (user → password), bcrypt-hashed with `htpasswd -B`. */
  htpasswd?: Record<string, string>;
  /** Token auth against a {@link TokenServer} (its `registryAuth`). */
  token?: TokenAuthConfig;
  /** The storage directory (e.g. another registry's, stopped); default `<dir>/registry/storage`. */
  storage?: string;
  /** Write the access log (one line per request) into `output`. */
  accessLog?: boolean;
}

/** distribution's `auth.token` settings. */
export interface TokenAuthConfig {
  realm: string;
  service: string;
  issuer: string;
  /** PEM file of the certificate the tokens' x5c chain must verify against. */
  rootCertBundle: string;
}

/** Asks the kernel for a free TCP port on 127.0.0.1 (bind port 0, read it, close). */
export function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const srv = createServer();
    srv.unref();
    srv.once('error', rej);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      if (addr === null || typeof addr === 'string') {
        srv.close();
        rej(new Error('no port from listen(0)'));
        return;
      }
      srv.close(() => res(addr.port));
    });
  });
}

/**
 * Debian's real distribution registry (`docker-registry serve`) on
 * 127.0.0.1 with a free port, plain HTTP, no auth, deletes enabled, and its
 * storage under `<dir>/registry`. It never touches /var/lib/docker-registry
 * and ignores any system registry service: it only uses its own port.
 */
export class Registry {
  /** The registry's stderr (its log), capped; shown when something fails. */
  output = '';
  private readonly exited: Promise<void>;
  private exitInfo: string | undefined;
  /** Started with auth: ready when `GET /v2/` answers 401. */
  private authenticated = false;

  private constructor(
    readonly proc: ChildProcess,
    readonly port: number,
    readonly storage: string,
    readonly config: string,
    /** How much of the log `output` keeps; a log that reached it is cut. */
    readonly maxOutput = MAX_OUTPUT,
  ) {
    const keep = (b: Buffer) => {
      if (this.output.length < maxOutput) this.output += b.toString();
    };
    proc.stdout?.on('data', keep);
    proc.stderr?.on('data', keep);
    this.exited = new Promise((res) => {
      proc.once('exit', (code, signal) => {
        this.exitInfo = signal === null ? `code ${code}` : `signal ${signal}`;
        res();
      });
      proc.once('error', (err) => {
        this.exitInfo = `spawn error: ${err.message}`;
        res();
      });
    });
  }

  /** `127.0.0.1:PORT`, the host part of image references. */
  get host(): string {
    return `127.0.0.1:${this.port}`;
  }

  /** `http://127.0.0.1:PORT`. */
  get url(): string {
    return `http://${this.host}`;
  }

  get pid(): number {
    return this.proc.pid ?? -1;
  }

  get running(): boolean {
    return this.exitInfo === undefined;
  }

  /**
   * Starts a registry whose files all live under `dir` and waits until
   * `GET /v2/` answers 200. Retries with another port if the one picked was
   * taken in the meantime.
   */
  static async start(dir: TempDir, opts: RegistryOptions = {}): Promise<Registry> {
    let lastErr: unknown;
    for (let attempt = 0; attempt < 3; attempt++) {
      const port = await freePort();
      const reg = Registry.spawn(dir, port, opts);
      try {
        await reg.waitReady(opts.startTimeoutMs ?? 15_000);
        return reg;
      } catch (err) {
        lastErr = err;
        await reg.stop();
        if (!/address already in use/.test(reg.output)) break;
      }
    }
    throw lastErr;
  }

  private static spawn(dir: TempDir, port: number, opts: RegistryOptions): Registry {
    const base = join(dir.path, 'registry');
    const storage = opts.storage ?? join(base, 'storage');
    mkdirSync(storage, { recursive: true });
    const config = join(base, `config-${port}.yml`);
    let auth: object | undefined;
    if (opts.htpasswd) {
      const file = join(base, `htpasswd-${port}`);
      writeFileSync(
        file,
        Object.entries(opts.htpasswd)
          .map(([user, pw]) => bcryptLine(user, pw))
          .join(''),
      );
      auth = { htpasswd: { realm: 'berth-test', path: file } };
    } else if (opts.token) {
      auth = {
        token: {
          realm: opts.token.realm,
          service: opts.token.service,
          issuer: opts.token.issuer,
          rootcertbundle: opts.token.rootCertBundle,
        },
      };
    }
    // JSON is YAML: no quoting surprises for the paths.
    writeFileSync(
      config,
      `${JSON.stringify(
        {
          version: '0.1',
          log: { level: opts.logLevel ?? 'warn', accesslog: { disabled: !opts.accessLog } },
          storage: {
            filesystem: { rootdirectory: storage },
            delete: { enabled: true },
            maintenance: { uploadpurging: { enabled: false }, readonly: { enabled: false } },
          },
          http: { addr: `127.0.0.1:${port}`, secret: 'berth-test-registry' },
          ...(auth ? { auth } : {}),
        },
        null,
        2,
      )}\n`,
    );
    // The registry lets REGISTRY_* variables override its config file.
    const env: NodeJS.ProcessEnv = {};
    for (const [k, v] of Object.entries(process.env)) {
      if (!k.startsWith('REGISTRY_')) env[k] = v;
    }
    const proc = spawn(REGISTRY_BIN, ['serve', config], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env,
    });
    const reg = new Registry(proc, port, storage, config, opts.maxOutput);
    reg.authenticated = auth !== undefined;
    return reg;
  }

  private async waitReady(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let last = '';
    while (Date.now() < deadline) {
      if (!this.running) {
        throw new Error(
          `docker-registry exited (${this.exitInfo}) before serving:\n${this.output}`,
        );
      }
      try {
        const r = await fetch(`${this.url}/v2/`, { signal: AbortSignal.timeout(2_000) });
        await r.arrayBuffer();
        if (r.status === 200 || (this.authenticated && r.status === 401)) return;
        last = `GET /v2/ answered ${r.status}`;
      } catch (err) {
        last = String(err);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(
      `docker-registry did not answer GET /v2/ within ${timeoutMs} ms (${last}):\n${this.output}`,
    );
  }

  /** Repository names in the registry (`GET /v2/_catalog`). */
  async catalog(): Promise<string[]> {
    const r = await fetch(`${this.url}/v2/_catalog`);
    if (r.status !== 200) throw new Error(`GET /v2/_catalog: ${r.status} ${await r.text()}`);
    return ((await r.json()) as { repositories?: string[] }).repositories ?? [];
  }

  /** Fetches a manifest or index by tag or digest; `accept` defaults to all four schema-2 types. */
  async manifest(
    name: string,
    reference: string,
    accept = MANIFEST_TYPES.join(', '),
  ): Promise<{ mediaType: string; digest: string; body: Buffer }> {
    const r = await fetch(`${this.url}/v2/${name}/manifests/${reference}`, {
      headers: { accept },
    });
    const body = Buffer.from(await r.arrayBuffer());
    if (r.status !== 200) {
      throw new Error(`GET /v2/${name}/manifests/${reference}: ${r.status} ${body.toString()}`);
    }
    return {
      mediaType: r.headers.get('content-type') ?? '',
      digest: r.headers.get('docker-content-digest') ?? '',
      body,
    };
  }

  /** SIGTERM, then SIGKILL if it has not exited after `timeoutMs`. */
  async stop(timeoutMs = 5_000): Promise<void> {
    if (!this.running) return;
    this.proc.kill('SIGTERM');
    const t = setTimeout(() => {
      if (this.running) this.proc.kill('SIGKILL');
    }, timeoutMs);
    await this.exited;
    clearTimeout(t);
  }
}

export const MANIFEST_TYPES = [
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.docker.distribution.manifest.v2+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
];

/** One htpasswd line, bcrypt (`htpasswd -nbB`, from Debian's apache2-utils): distribution accepts only bcrypt. */
function bcryptLine(user: string, password: string): string {
  return `${execFileSync('htpasswd', ['-nbB', user, password], { encoding: 'utf8' }).trim()}\n`;
}

export interface TokenServerOptions {
  /** user → password, checked on Basic credentials (GET) and OAuth password grants (POST). */
  users: Record<string, string>;
  /** refresh (identity) token → user, for POST grant_type=refresh_token. */
  refreshTokens?: Record<string, string>;
  /** Grant pull to anonymous requests; default nothing. */
  anonymousPull?: boolean;
  /** `expires_in` of the tokens (s); default 300. */
  expiresIn?: number;
}

export interface TokenRequest {
  method: string;
  url: string;
  /** The user the request authenticated as; undefined: anonymous or refused. */
  user?: string;
  scopes: string[];
}

/**
 * A Docker token server for a registry's `auth.token`: a self-signed RSA key
 * and certificate made with openssl (the registry's rootcertbundle), and
 * RS256 JWTs carrying the certificate in `x5c`, the access granted per
 * requested scope, `aud` = service and `iss` = issuer — what distribution
 * 2.8 verifies. Grants every requested action to a known user.
 */
export class TokenServer {
  readonly requests: TokenRequest[] = [];
  readonly service = 'berth-test-registry';
  readonly issuer = 'berth-test-issuer';

  private constructor(
    private readonly server: Server,
    readonly port: number,
    readonly certPath: string,
    private readonly keyPem: string,
    private readonly certDer: string,
    private readonly opts: TokenServerOptions,
  ) {}

  get realm(): string {
    return `http://127.0.0.1:${this.port}/token`;
  }

  /** The registry's `token` option. */
  get registryAuth(): TokenAuthConfig {
    return {
      realm: this.realm,
      service: this.service,
      issuer: this.issuer,
      rootCertBundle: this.certPath,
    };
  }

  static async start(dir: TempDir, opts: TokenServerOptions): Promise<TokenServer> {
    const base = join(dir.path, 'token-server');
    mkdirSync(base, { recursive: true });
    const key = join(base, 'key.pem');
    const cert = join(base, 'cert.pem');
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'rsa:2048',
        '-nodes',
        '-keyout',
        key,
        '-out',
        cert,
        '-days',
        '2',
        '-subj',
        '/CN=berth-test-token-issuer',
      ],
      { stdio: 'ignore' },
    );
    const der = new X509Certificate(readFileSync(cert)).raw.toString('base64');
    let self: TokenServer | undefined;
    const server = createHttpServer((req, res) => self?.handle(req, res));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    self = new TokenServer(
      server,
      (server.address() as AddressInfo).port,
      cert,
      readFileSync(key, 'utf8'),
      der,
      opts,
    );
    return self;
  }

  private handle(
    req: import('node:http').IncomingMessage,
    res: import('node:http').ServerResponse,
  ): void {
    let body = '';
    req.on('data', (c: Buffer) => {
      body += c.toString();
    });
    req.on('end', () => {
      const u = new URL(req.url ?? '/', this.realm);
      let user: string | undefined;
      let scopes: string[];
      let refused = false;
      if (req.method === 'POST') {
        const f = new URLSearchParams(body);
        scopes = (f.get('scope') ?? '').split(' ').filter((x) => x !== '');
        if (f.get('grant_type') === 'refresh_token')
          user = this.opts.refreshTokens?.[f.get('refresh_token') ?? ''];
        else if (f.get('grant_type') === 'password') {
          const name = f.get('username') ?? '';
          if (this.opts.users[name] === f.get('password')) user = name;
        }
        refused = user === undefined;
      } else {
        scopes = u.searchParams.getAll('scope');
        const auth = req.headers.authorization;
        if (auth?.startsWith('Basic ')) {
          const [name, ...rest] = Buffer.from(auth.slice(6), 'base64').toString().split(':');
          if (name !== undefined && this.opts.users[name] === rest.join(':')) user = name;
          else refused = true;
        }
      }
      this.requests.push({
        method: req.method ?? '',
        url: req.url ?? '',
        ...(user ? { user } : {}),
        scopes,
      });
      if (refused) {
        const b = JSON.stringify({
          errors: [{ code: 'UNAUTHORIZED', message: 'invalid credentials' }],
        });
        res.writeHead(401, { 'content-type': 'application/json' }).end(b);
        return;
      }
      const access = scopes.map((s) => {
        const parts = s.split(':');
        const actions = (parts.pop() ?? '').split(',');
        const type = parts.shift() ?? '';
        const granted =
          user !== undefined
            ? actions
            : this.opts.anonymousPull
              ? actions.filter((a) => a === 'pull')
              : [];
        return { type, name: parts.join(':'), actions: granted };
      });
      const token = this.sign(user ?? '', access);
      const expiresIn = this.opts.expiresIn ?? 300;
      const b = JSON.stringify(
        req.method === 'POST'
          ? { access_token: token, expires_in: expiresIn }
          : { token, expires_in: expiresIn },
      );
      res.writeHead(200, { 'content-type': 'application/json' }).end(b);
    });
  }

  private sign(sub: string, access: { type: string; name: string; actions: string[] }[]): string {
    const b64url = (x: Buffer | string) => Buffer.from(x).toString('base64url');
    const now = Math.floor(Date.now() / 1000);
    const header = { typ: 'JWT', alg: 'RS256', x5c: [this.certDer] };
    const claims = {
      iss: this.issuer,
      sub,
      aud: this.service,
      exp: now + (this.opts.expiresIn ?? 300),
      nbf: now - 1,
      iat: now,
      jti: randomUUID(),
      access,
    };
    const input = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`;
    const sig = createSign('RSA-SHA256').update(input).sign(this.keyPem);
    return `${input}.${b64url(sig)}`;
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((r) => this.server.close(() => r()));
  }
}
