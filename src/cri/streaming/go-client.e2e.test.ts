import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { nullLogger } from '../../core/log/index.js';
import { removeTree } from '../../sys/remove-tree.js';
import { StreamingServer } from './server.js';
import { FakeRuntime } from './testing/fake-runtime.js';
import { buildStreamClient, criToolsTarball } from './testing/go-streamclient.js';

/**
 * The streaming server against Kubernetes' own clients: client-go's remotecommand and portforward over SPDY (what
 * crictl and kubectl run), built from cri-tools 1.26.1's vendored sources. A fake runtime stands in for containers
 * so that the wire protocols are tested alone.
 */
const tarball = criToolsTarball();
const haveGo = spawnSync('go', ['version']).status === 0;
const skip = !tarball
  ? 'no cri-tools tarball in the shared tools'
  : !haveGo
    ? 'no Go toolchain'
    : false;

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

describe("streaming server with client-go (crictl's client)", { skip }, () => {
  const runtime = new FakeRuntime();
  let dir: string;
  let bin: string;
  let server: StreamingServer;
  let echo: Server;
  let echoPort = 0;

  before(async () => {
    const base = tmpdir();
    dir = mkdtempSync(join(base, 'berth-streamclient-'));
    bin = await buildStreamClient(dir, tarball!);
    server = new StreamingServer({ address: '127.0.0.1', port: 0, runtime, log: nullLogger });
    await server.start();
    echo = createServer((s) => s.pipe(s));
    await new Promise<void>((r) => echo.listen(0, '127.0.0.1', r));
    echoPort = (echo.address() as { port: number }).port;
  });

  after(async () => {
    await server?.close();
    await new Promise((r) => (echo ? echo.close(r) : r(undefined)));
    if (dir) removeTree(dir, tmpdir());
  });

  function client(args: string[], input?: string | Buffer): Promise<Result> {
    return new Promise((resolve) => {
      const p = execFile(
        bin,
        args,
        { timeout: 60_000, maxBuffer: 1 << 26 },
        (err, stdout, stderr) =>
          resolve({
            code: err ? Number((err as { code?: number }).code ?? -1) : 0,
            stdout,
            stderr,
          }),
      );
      p.stdin!.end(input ?? '');
    });
  }

  const exec = (cmd: string[], o: { tty?: boolean; stdin?: boolean } = {}) =>
    server.getExec({
      containerId: 'ctr',
      cmd,
      tty: o.tty ?? false,
      stdin: o.stdin ?? false,
      stdout: true,
      stderr: !o.tty,
    }).url;

  it('execs with stdin: a megabyte in, the same out, exit 0', async () => {
    const input = `${'0123456789abcdef'.repeat(64)}\n`.repeat(1024);
    const r = await client(['exec', '-stdin', exec(['cat'], { stdin: true })], input);
    assert.equal(r.stderr, '');
    assert.equal(r.code, 0);
    assert.equal(r.stdout.length, input.length);
    assert.ok(r.stdout === input);
  });

  it('gets stdout and stderr apart and the exit code of a failing command', async () => {
    const r = await client(['exec', exec(['fail', '7', 'bad'])]);
    assert.equal(r.stdout, 'bad');
    assert.equal(r.code, 7);
    assert.equal(r.stderr, 'bad on stderrstreamclient: command terminated with exit code 7\n');
  });

  it('sends terminal sizes with a TTY', async () => {
    const r = await client([
      'exec',
      '-tty',
      '-stdin',
      '-sizes',
      '80x24,100x40',
      exec(['resize', '2'], { tty: true, stdin: true }),
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, '80x24\n100x40\n');
    assert.ok(runtime.calls.includes('exec ctr resize 2 tty=true'));
  });

  it('reports a runtime failure as the error', async () => {
    const r = await client(['exec', exec(['throw'])]);
    assert.equal(r.code, 100);
    assert.match(
      r.stderr,
      /Internal error occurred: error executing command in container: no such command "throw"/,
    );
  });

  it('attaches', async () => {
    const url = server.getAttach({
      containerId: 'ctr2',
      stdin: true,
      stdout: true,
      stderr: true,
      tty: false,
    }).url;
    const r = await client(['exec', '-stdin', url], 'to the container\n');
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'to the container\n');
    assert.ok(runtime.calls.includes('attach ctr2 tty=false'));
  });

  it('streams a large output at speed', async (t) => {
    const total = 256 << 20;
    const r = await client(['exec', '-count', exec(['big', String(total)])]);
    assert.equal(r.code, 0, r.stderr);
    const m = /bytes=(\d+) ms=(\d+)/.exec(r.stderr);
    assert.ok(m, r.stderr);
    assert.equal(Number(m[1]), total);
    t.diagnostic(
      `exec stdout: ${total >> 20} MiB in ${m[2]} ms (${Math.round((total / 1e6 / Number(m[2])) * 1000)} MB/s)`,
    );
  });

  it('forwards ports: several connections at once, each echoed whole', async (t) => {
    const url = server.getPortForward({ podSandboxId: 'pod', port: [echoPort] }).url;
    const r = await client([
      'portforward',
      '-port',
      String(echoPort),
      '-conns',
      '4',
      '-bytes',
      String(4 << 20),
      url,
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^ok conns=4 bytes=4194304 ms=\d+\n$/);
    assert.ok(runtime.calls.includes(`portforward pod ${echoPort}`));
    t.diagnostic(`port-forward: 4 x 4 MiB echoed in ${/ms=(\d+)/.exec(r.stdout)?.[1]} ms`);
  });

  it('refuses a used token with 404', async () => {
    const url = exec(['fail', '0', '']);
    assert.equal((await client(['exec', url])).code, 0);
    const again = await client(['exec', url]);
    assert.equal(again.code, 100);
    assert.match(again.stderr, /unable to upgrade connection: 404 page not found/);
  });

  it('ends a session in progress when the server closes', async () => {
    const own = new StreamingServer({ address: '127.0.0.1', port: 0, runtime, log: nullLogger });
    await own.start();
    const url = own.getExec({
      containerId: 'c',
      cmd: ['hang'],
      tty: false,
      stdin: true,
      stdout: true,
      stderr: true,
    }).url;
    const started = Date.now();
    const pending = new Promise<Result>((resolve) => {
      const p = execFile(bin, ['exec', '-stdin', url], { timeout: 30_000 }, (err, stdout, stderr) =>
        resolve({ code: err ? Number((err as { code?: number }).code ?? -1) : 0, stdout, stderr }),
      );
      p.stdin!.write('never ends');
    });
    await new Promise((r) => setTimeout(r, 300));
    await own.close();
    const r = await pending;
    assert.ok(Date.now() - started < 10_000, 'the client ended soon after the close');
    assert.equal(r.stdout, '');
  });
});
