import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import type { TempDir } from './tmp.js';

/** The binary Debian's docker-registry package installs (distribution 2.8). */
export const REGISTRY_BIN = '/usr/bin/docker-registry';

const MAX_OUTPUT = 256 * 1024;

export interface RegistryOptions {
  /** How long to wait for `GET /v2/` to answer 200 (ms). */
  startTimeoutMs?: number;
  /** Registry log level (`error`, `warn`, `info`, `debug`); default `warn`. */
  logLevel?: string;
  /** How much of its log `output` keeps (bytes); default 256 KiB. At `info`, each request is a line. */
  maxOutput?: number;
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
    const storage = join(base, 'storage');
    mkdirSync(storage, { recursive: true });
    const config = join(base, `config-${port}.yml`);
    // JSON is YAML: no quoting surprises for the paths.
    writeFileSync(
      config,
      `${JSON.stringify(
        {
          version: '0.1',
          log: { level: opts.logLevel ?? 'warn', accesslog: { disabled: true } },
          storage: {
            filesystem: { rootdirectory: storage },
            delete: { enabled: true },
            maintenance: { uploadpurging: { enabled: false }, readonly: { enabled: false } },
          },
          http: { addr: `127.0.0.1:${port}`, secret: 'berth-test-registry' },
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
    return new Registry(proc, port, storage, config, opts.maxOutput);
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
        if (r.status === 200) return;
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
