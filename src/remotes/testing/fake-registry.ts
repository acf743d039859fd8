/**
 * A small in-memory registry on 127.0.0.1 for the client's unit tests, with
 * faults to inject: statuses before success, a connection dropped mid-body,
 * Range ignored, redirects of blobs to another server, Basic or Bearer auth.
 * It records every request (method, path, headers) for assertions.
 */
import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer, type ServerOptions as HttpsOptions } from 'node:https';
import type { AddressInfo } from 'node:net';

export interface Recorded {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
}

export interface Fault {
  /** Requests this fault applies to. */
  match: (req: IncomingMessage) => boolean;
  /** Answer these statuses first (one per matching request), with these headers. */
  statuses?: { status: number; headers?: Record<string, string> }[];
  /** Cut the connection after this many body bytes, `times` times. */
  dropAfter?: number;
  /** Or go silent after this many body bytes (the connection stays open), `times` times. */
  stallAfter?: number;
  times?: number;
}

export function sha256(b: Buffer): string {
  return `sha256:${createHash('sha256').update(b).digest('hex')}`;
}

export class HttpServer {
  readonly requests: Recorded[] = [];
  private constructor(
    readonly server: Server,
    readonly port: number,
  ) {}

  static async start(
    handler: (req: IncomingMessage, res: ServerResponse, self: HttpServer) => void,
    tls?: HttpsOptions,
  ): Promise<HttpServer> {
    let self: HttpServer | undefined;
    const listener = (req: IncomingMessage, res: ServerResponse) => {
      self?.requests.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers });
      handler(req, res, self as HttpServer);
    };
    const server: Server = tls ? createHttpsServer(tls, listener) : createServer(listener);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    self = new HttpServer(server, (server.address() as AddressInfo).port);
    return self;
  }

  get host(): string {
    return `127.0.0.1:${this.port}`;
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((r) => this.server.close(() => r()));
  }
}

export interface FakeRegistryOptions {
  auth?:
    | { scheme: 'basic'; username: string; password: string }
    | { scheme: 'bearer'; realm: string; service: string; token: string };
  /** Blob GETs answer 307 to this base URL + `/<digest>`. */
  redirectBlobsTo?: string;
  /** Answer Range requests with the whole body (200). */
  ignoreRange?: boolean;
  /** HEAD on manifests omits Docker-Content-Digest. */
  noDigestHeader?: boolean;
  /** Serve HTTPS with these settings. */
  tls?: HttpsOptions;
}

/** Repos → blobs and manifests; uploads in progress by id. */
export class FakeRegistry {
  readonly blobs = new Map<string, Map<string, Buffer>>();
  readonly manifests = new Map<string, Map<string, { type: string; body: Buffer }>>();
  readonly tags = new Map<string, Map<string, string>>();
  readonly faults: Fault[] = [];
  private readonly uploads = new Map<string, { repo: string; parts: Buffer[]; size: number }>();
  private nextId = 1;
  http!: HttpServer;

  constructor(readonly opts: FakeRegistryOptions = {}) {}

  static async start(opts: FakeRegistryOptions = {}): Promise<FakeRegistry> {
    const r = new FakeRegistry(opts);
    r.http = await HttpServer.start((req, res) => r.handle(req, res), opts.tls);
    return r;
  }

  get host(): string {
    return this.http.host;
  }

  get requests(): Recorded[] {
    return this.http.requests;
  }

  close(): Promise<void> {
    return this.http.close();
  }

  addBlob(repo: string, data: Buffer): { mediaType: string; digest: string; size: number } {
    const d = sha256(data);
    this.repoMap(this.blobs, repo).set(d, data);
    return { mediaType: 'application/octet-stream', digest: d, size: data.length };
  }

  addManifest(repo: string, type: string, body: Buffer, tag?: string) {
    const d = sha256(body);
    this.repoMap(this.manifests, repo).set(d, { type, body });
    if (tag) this.repoMap(this.tags, repo).set(tag, d);
    return { mediaType: type, digest: d, size: body.length };
  }

  private repoMap<T>(m: Map<string, Map<string, T>>, repo: string): Map<string, T> {
    let x = m.get(repo);
    if (!x) {
      x = new Map();
      m.set(repo, x);
    }
    return x;
  }

  private error(
    res: ServerResponse,
    status: number,
    code: string,
    message: string,
    headers: Record<string, string> = {},
  ) {
    const body = JSON.stringify({ errors: [{ code, message }] });
    res.writeHead(status, {
      'content-type': 'application/json',
      'content-length': Buffer.byteLength(body),
      ...headers,
    });
    res.end(body);
  }

  private authorized(req: IncomingMessage, res: ServerResponse, scope: string): boolean {
    const a = this.opts.auth;
    if (!a) return true;
    const got = req.headers.authorization ?? '';
    if (a.scheme === 'basic') {
      const want = `Basic ${Buffer.from(`${a.username}:${a.password}`).toString('base64')}`;
      if (got === want) return true;
      this.error(res, 401, 'UNAUTHORIZED', 'authentication required', {
        'www-authenticate': 'Basic realm="fake"',
      });
      return false;
    }
    if (got === `Bearer ${a.token}`) return true;
    this.error(res, 401, 'UNAUTHORIZED', 'authentication required', {
      'www-authenticate': `Bearer realm="${a.realm}",service="${a.service}",scope="${scope}"`,
    });
    return false;
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => this.route(req, res, Buffer.concat(chunks)));
  }

  private route(req: IncomingMessage, res: ServerResponse, body: Buffer): void {
    const u = new URL(req.url ?? '/', `http://${this.host}`);
    const method = req.method ?? 'GET';
    for (const f of this.faults) {
      if (!f.match(req)) continue;
      const s = f.statuses?.shift();
      if (s) {
        this.error(
          res,
          s.status,
          s.status === 429 ? 'TOOMANYREQUESTS' : 'UNAVAILABLE',
          'injected',
          s.headers ?? {},
        );
        return;
      }
    }
    if (u.pathname === '/v2/' || u.pathname === '/v2') {
      res.writeHead(200, { 'content-length': 2 }).end('{}');
      return;
    }
    const m = /^\/v2\/(.+)\/(manifests|blobs)\/(.+)$/.exec(u.pathname);
    const up = /^\/v2\/(.+)\/blobs\/uploads\/(.*)$/.exec(u.pathname);
    if (up) {
      const repo = up[1] as string;
      if (!this.authorized(req, res, `repository:${repo}:pull,push`)) return;
      this.upload(req, res, u, repo, up[2] as string, body, method);
      return;
    }
    if (!m) {
      this.error(res, 404, 'NOT_FOUND', 'no route');
      return;
    }
    const [, repo, kind, ref] = m as unknown as [string, string, string, string];
    const write = method === 'PUT';
    if (!this.authorized(req, res, `repository:${repo}:${write ? 'pull,push' : 'pull'}`)) return;
    if (kind === 'manifests') {
      if (write) {
        const d = sha256(body);
        this.repoMap(this.manifests, repo).set(d, {
          type: req.headers['content-type'] ?? '',
          body,
        });
        if (!ref.startsWith('sha256:')) this.repoMap(this.tags, repo).set(ref, d);
        res
          .writeHead(201, { 'docker-content-digest': d, location: `/v2/${repo}/manifests/${d}` })
          .end();
        return;
      }
      const d = ref.startsWith('sha256:') ? ref : this.tags.get(repo)?.get(ref);
      const man = d ? this.manifests.get(repo)?.get(d) : undefined;
      if (!d || !man) {
        this.error(res, 404, 'MANIFEST_UNKNOWN', 'manifest unknown');
        return;
      }
      const h: Record<string, string | number> = {
        'content-type': man.type,
        'content-length': man.body.length,
      };
      if (!this.opts.noDigestHeader) h['docker-content-digest'] = d;
      res.writeHead(200, h);
      res.end(method === 'HEAD' ? undefined : man.body);
      return;
    }
    const blob = this.blobs.get(repo)?.get(ref);
    if (!blob) {
      this.error(res, 404, 'BLOB_UNKNOWN', 'blob unknown');
      return;
    }
    if (this.opts.redirectBlobsTo && method === 'GET') {
      res.writeHead(307, { location: `${this.opts.redirectBlobsTo}/${ref}` }).end();
      return;
    }
    serveBytes(req, res, blob, this.faults, this.opts.ignoreRange ?? false, {
      'docker-content-digest': ref,
    });
  }

  private upload(
    req: IncomingMessage,
    res: ServerResponse,
    u: URL,
    repo: string,
    id: string,
    body: Buffer,
    method: string,
  ) {
    if (method === 'POST' && id === '') {
      const mount = u.searchParams.get('mount');
      const from = u.searchParams.get('from');
      if (mount && from) {
        const b = this.blobs.get(from)?.get(mount);
        if (b) {
          this.repoMap(this.blobs, repo).set(mount, b);
          res
            .writeHead(201, {
              location: `/v2/${repo}/blobs/${mount}`,
              'docker-content-digest': mount,
            })
            .end();
          return;
        }
      }
      const nid = String(this.nextId++);
      this.uploads.set(nid, { repo, parts: [], size: 0 });
      res
        .writeHead(202, {
          location: `/v2/${repo}/blobs/uploads/${nid}?_state=x`,
          range: '0-0',
          'docker-upload-uuid': nid,
        })
        .end();
      return;
    }
    const upl = this.uploads.get(id);
    if (!upl) {
      this.error(res, 404, 'BLOB_UPLOAD_UNKNOWN', 'upload unknown');
      return;
    }
    if (method === 'PATCH') {
      const cr = req.headers['content-range'];
      if (cr !== undefined) {
        const mm = /^(\d+)-(\d+)$/.exec(String(cr));
        if (!mm || Number(mm[1]) !== upl.size || Number(mm[2]) !== upl.size + body.length - 1) {
          this.error(res, 416, 'BLOB_UPLOAD_INVALID', `bad range ${cr} at ${upl.size}`);
          return;
        }
      }
      upl.parts.push(body);
      upl.size += body.length;
      res
        .writeHead(202, {
          location: `/v2/${repo}/blobs/uploads/${id}?_state=y${upl.size}`,
          range: `0-${upl.size - 1}`,
        })
        .end();
      return;
    }
    if (method === 'PUT') {
      upl.parts.push(body);
      const all = Buffer.concat(upl.parts);
      const want = u.searchParams.get('digest');
      if (sha256(all) !== want) {
        this.error(res, 400, 'DIGEST_INVALID', 'provided digest did not match uploaded content');
        return;
      }
      this.uploads.delete(id);
      this.repoMap(this.blobs, repo).set(want, all);
      res
        .writeHead(201, { location: `/v2/${repo}/blobs/${want}`, 'docker-content-digest': want })
        .end();
      return;
    }
    this.error(res, 405, 'UNSUPPORTED', method);
  }
}

/** Serves `data` honouring Range (unless `ignoreRange`) and the drop faults. */
export function serveBytes(
  req: IncomingMessage,
  res: ServerResponse,
  data: Buffer,
  faults: Fault[],
  ignoreRange: boolean,
  extra: Record<string, string> = {},
): void {
  let start = 0;
  const range = req.headers.range;
  const m = range ? /^bytes=(\d+)-$/.exec(range) : null;
  if (m && !ignoreRange) start = Number(m[1]);
  const body = data.subarray(start);
  const headers: Record<string, string | number> = {
    'content-type': 'application/octet-stream',
    'content-length': body.length,
    ...extra,
  };
  if (start > 0) headers['content-range'] = `bytes ${start}-${data.length - 1}/${data.length}`;
  res.writeHead(start > 0 ? 206 : 200, headers);
  if (req.method === 'HEAD') {
    res.end();
    return;
  }
  const stall = faults.find(
    (f) => f.stallAfter !== undefined && (f.times ?? 1) > 0 && f.match(req),
  );
  if (stall && stall.stallAfter !== undefined && stall.stallAfter < body.length) {
    stall.times = (stall.times ?? 1) - 1;
    res.write(body.subarray(0, stall.stallAfter));
    return;
  }
  const drop = faults.find((f) => f.dropAfter !== undefined && (f.times ?? 1) > 0 && f.match(req));
  if (drop && drop.dropAfter !== undefined && drop.dropAfter < body.length) {
    drop.times = (drop.times ?? 1) - 1;
    res.write(body.subarray(0, drop.dropAfter), () => {
      setTimeout(() => res.socket?.destroy(), 20);
    });
    return;
  }
  res.end(body);
}
