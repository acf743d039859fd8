/**
 * Time to serve after a restart: from spawning the daemon on directories a
 * previous run of it left (metadata, snapshotter and runtime state) to its
 * socket answering `Version` with OK, for berthd and Debian's containerd in
 * the same run, alternating.
 *
 *   node --import tsx bench/startup.ts [--rounds 10] [--main <dist/daemon/main.js>] [--json]
 *
 * The socket is polled with connect() every 2 ms; once it accepts (the first
 * figure), one Version call goes out on a raw HTTP/2 connection (node:http2)
 * and the second figure is when it answers OK, so no client library
 * start-up or reconnect back-off is in either. Each daemon is
 * stopped with SIGTERM after its round. `--main` times another build of
 * berthd (for a before/after); `--max-semi-space-size=4` is passed to node as
 * bin/berthd does.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import http2 from 'node:http2';
import { connect } from 'node:net';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { REPO } from '../test/helpers/berthd.js';
import { tempDir } from '../test/helpers/tmp.js';

const VERSION_PATH = '/containerd.services.version.v1.Version/Version';

function canConnect(socket: string): Promise<boolean> {
  return new Promise((res) => {
    const s = connect(socket);
    s.once('connect', () => {
      s.destroy();
      res(true);
    });
    s.once('error', () => res(false));
  });
}

/** One Version call on a fresh HTTP/2 connection; resolves with its grpc-status. */
function versionCall(socket: string): Promise<string> {
  return new Promise((res, rej) => {
    const session = http2.connect('http://localhost', { createConnection: () => connect(socket) });
    session.once('error', rej);
    const req = session.request({
      ':method': 'POST',
      ':path': VERSION_PATH,
      'content-type': 'application/grpc',
      te: 'trailers',
    });
    let status: string | undefined;
    req.on('response', (h) => {
      if (h['grpc-status'] !== undefined) status = String(h['grpc-status']);
    });
    req.on('trailers', (t) => {
      status = String(t['grpc-status']);
    });
    req.on('data', () => {});
    req.once('error', rej);
    req.once('close', () => {
      session.close();
      res(status ?? 'none');
    });
    req.end(Buffer.alloc(5)); // one empty message, uncompressed
  });
}

function waitExit(p: ChildProcess): Promise<void> {
  return new Promise((res) => {
    if (p.exitCode !== null || p.signalCode !== null) res();
    else p.once('exit', () => res());
  });
}

interface Start {
  /** Spawn → the socket accepts a connection. */
  acceptMs: number;
  /** Spawn → Version answers OK. */
  versionMs: number;
}

async function timeToServe(cmd: string, args: string[], socket: string): Promise<Start> {
  const t0 = performance.now();
  const p = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  p.stderr?.on('data', (b: Buffer) => {
    if (err.length < 64 * 1024) err += b.toString();
  });
  try {
    let acceptMs: number | undefined;
    for (;;) {
      if (p.exitCode !== null) throw new Error(`${cmd} exited ${p.exitCode}: ${err}`);
      if (performance.now() - t0 > 30_000) throw new Error(`${cmd}: not serving after 30 s`);
      if (await canConnect(socket)) {
        acceptMs ??= performance.now() - t0;
        // A daemon that accepts before it serves holds this call until it does.
        const st = await versionCall(socket).catch(() => 'error');
        if (st === '0') return { acceptMs, versionMs: performance.now() - t0 };
      }
      await new Promise((r) => setTimeout(r, 2));
    }
  } finally {
    p.kill('SIGTERM');
    await waitExit(p);
  }
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      rounds: { type: 'string', default: '10' },
      main: { type: 'string', default: join(REPO, 'dist/daemon/main.js') },
      json: { type: 'boolean', default: false },
    },
  });
  const rounds = Number(values.rounds);
  const dir = tempDir('berth-bench-startup-');
  try {
    const b = {
      root: join(dir.path, 'b/root'),
      state: join(dir.path, 'b/state'),
      socket: join(dir.path, 'b/state/berth.sock'),
    };
    const c = {
      root: join(dir.path, 'c/root'),
      state: join(dir.path, 'c/state'),
      socket: join(dir.path, 'c/state/containerd.sock'),
      config: join(dir.path, 'c/config.toml'),
    };
    const berthdArgs = [
      '--max-semi-space-size=4',
      resolve(values.main),
      '--root',
      b.root,
      '--state',
      b.state,
      '--address',
      b.socket,
    ];
    const containerdArgs = ['--root', c.root, '--state', c.state, '--address', c.socket];
    // containerd reads /etc/containerd/config.toml unless given another file.
    writeFileSync(join(dir.path, 'c.toml'), 'version = 2\n');
    containerdArgs.push('--config', join(dir.path, 'c.toml'));
    // A first start of each makes the directories a restart finds.
    await timeToServe(process.execPath, berthdArgs, b.socket);
    await timeToServe('containerd', containerdArgs, c.socket);
    const times = { berthd: [] as Start[], containerd: [] as Start[] };
    for (let i = 0; i < rounds; i++) {
      const order =
        i % 2 === 0 ? (['berthd', 'containerd'] as const) : (['containerd', 'berthd'] as const);
      for (const d of order) {
        times[d].push(
          d === 'berthd'
            ? await timeToServe(process.execPath, berthdArgs, b.socket)
            : await timeToServe('containerd', containerdArgs, c.socket),
        );
      }
    }
    const summary = (xs: Start[]) => ({
      acceptMs: Math.round(median(xs.map((x) => x.acceptMs))),
      versionMs: Math.round(median(xs.map((x) => x.versionMs))),
      versionAll: xs.map((x) => Math.round(x.versionMs)),
    });
    const out = { rounds, berthd: summary(times.berthd), containerd: summary(times.containerd) };
    if (values.json) {
      process.stdout.write(`${JSON.stringify(out)}\n`);
    } else {
      for (const d of ['berthd', 'containerd'] as const) {
        const r = out[d];
        process.stdout.write(
          `${d.padEnd(10)} medians of ${rounds}: accepts ${r.acceptMs} ms, Version OK ${r.versionMs} ms (all: ${r.versionAll.join(' ')})\n`,
        );
      }
    }
  } finally {
    dir.remove();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
