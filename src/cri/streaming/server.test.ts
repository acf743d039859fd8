import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { isFailedPrecondition, isInvalidArgument } from '../../core/errdefs/index.js';
import { nullLogger } from '../../core/log/index.js';
import { StreamingServer } from './server.js';
import type { SpdyConnection } from './spdy/connection.js';
import { encodeWindowUpdate } from './spdy/frames.js';
import type { SpdyStream } from './spdy/stream.js';
import { FakeRuntime } from './testing/fake-runtime.js';
import { dialSpdy, type Refused, readAll } from './testing/spdy-client.js';

const V4 = 'v4.channel.k8s.io';

async function upgraded(
  url: string,
  protocols = [V4],
): Promise<{ conn: SpdyConnection; protocol: string }> {
  const r = await dialSpdy(url, protocols);
  if ('status' in r) assert.fail(`upgrade refused: ${r.status} ${r.body}`);
  return r;
}

async function refused(url: string, protocols = [V4], opts = {}): Promise<Refused> {
  const r = await dialSpdy(url, protocols, opts);
  if (!('status' in r)) {
    r.conn.destroy();
    assert.fail('upgrade was not refused');
  }
  return r;
}

/** Opens the streams of a remotecommand session as client-go does: error first, then the others. */
async function openStreams(
  conn: SpdyConnection,
  types: string[],
): Promise<Record<string, SpdyStream>> {
  const out: Record<string, SpdyStream> = {};
  for (const t of ['error', ...types]) out[t] = await conn.openStream({ streamtype: [t] });
  return out;
}

describe('streaming server (SPDY/3.1)', () => {
  const runtime = new FakeRuntime();
  let server: StreamingServer;
  let echo: Server;
  let echoPort = 0;

  before(async () => {
    server = new StreamingServer({ address: '127.0.0.1', port: 0, runtime, log: nullLogger });
    assert.throws(() => server.getExec(execReq(['cat'])), isFailedPrecondition);
    await server.start();
    echo = createServer((s) => s.pipe(s));
    await new Promise<void>((r) => echo.listen(0, '127.0.0.1', r));
    echoPort = (echo.address() as { port: number }).port;
  });
  after(async () => {
    await server.close();
    await new Promise((r) => echo.close(r));
  });

  function execReq(cmd: string[], o: { tty?: boolean; stdin?: boolean; stderr?: boolean } = {}) {
    return {
      containerId: 'c1',
      cmd,
      tty: o.tty ?? false,
      stdin: o.stdin ?? true,
      stdout: true,
      stderr: o.stderr ?? !o.tty,
    };
  }

  it('answers Exec, Attach and PortForward with one-time URLs on its port', () => {
    const { url } = server.getExec(execReq(['cat']));
    assert.match(url, new RegExp(`^${server.url}/exec/[A-Za-z0-9_-]{8}$`));
    assert.match(server.url, /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.match(
      server.getAttach({ containerId: 'c', stdin: true, stdout: false, stderr: false, tty: false })
        .url,
      /\/attach\//,
    );
    assert.match(server.getPortForward({ podSandboxId: 'p', port: [80] }).url, /\/portforward\//);
  });

  it('validates requests as kubelet does', () => {
    assert.throws(
      () => server.getExec({ ...execReq(['x']), containerId: '' }),
      /missing required container_id/,
    );
    assert.throws(
      () => server.getExec(execReq(['x'], { tty: true, stderr: true })),
      /tty and stderr cannot both be true/,
    );
    assert.throws(
      () => server.getExec({ ...execReq(['x']), stdin: false, stdout: false, stderr: false }),
      (e: Error) =>
        isInvalidArgument(e) && /one of stdin, stdout, or stderr must be set/.test(e.message),
    );
    assert.throws(
      () => server.getPortForward({ podSandboxId: '', port: [] }),
      /missing required pod_sandbox_id/,
    );
  });

  it('execs: stdin to stdout, then a v4 Success status', async () => {
    const { conn, protocol } = await upgraded(server.getExec(execReq(['cat'])).url, [
      V4,
      'v3.channel.k8s.io',
    ]);
    assert.equal(protocol, V4);
    const s = await openStreams(conn, ['stdin', 'stdout', 'stderr']);
    const out = readAll(s.stdout!);
    const err = readAll(s.stderr!);
    const status = readAll(s.error!);
    s.stdin!.end('hello through spdy\n');
    assert.equal(await out, 'hello through spdy\n');
    assert.equal(await err, '');
    assert.deepEqual(JSON.parse(await status), { metadata: {}, status: 'Success' });
    await conn.closed;
  });

  it('reports a non-zero exit code in the v4 status, with stdout and stderr apart', async () => {
    const { conn } = await upgraded(
      server.getExec(execReq(['fail', '3', 'oops'], { stdin: false })).url,
    );
    const s = await openStreams(conn, ['stdout', 'stderr']);
    const [out, err, status] = await Promise.all([
      readAll(s.stdout!),
      readAll(s.stderr!),
      readAll(s.error!),
    ]);
    assert.equal(out, 'oops');
    assert.equal(err, 'oops on stderr');
    assert.deepEqual(JSON.parse(status), {
      metadata: {},
      status: 'Failure',
      message:
        'command terminated with non-zero exit code: error executing command [fail 3 oops], exit code 3',
      reason: 'NonZeroExitCode',
      details: { causes: [{ reason: 'ExitCode', message: '3' }] },
    });
  });

  it('reports runtime failures as internal errors, as text before v4', async () => {
    const { conn, protocol } = await upgraded(
      server.getExec(execReq(['throw'], { stdin: false })).url,
      ['v3.channel.k8s.io'],
    );
    assert.equal(protocol, 'v3.channel.k8s.io');
    const s = await openStreams(conn, ['stdout', 'stderr']);
    assert.equal(
      await readAll(s.error!),
      'Internal error occurred: error executing command in container: no such command "throw"',
    );
  });

  it('passes terminal sizes from the resize stream with a TTY (v3 and up)', async () => {
    const { conn } = await upgraded(server.getExec(execReq(['resize', '2'], { tty: true })).url);
    const s = await openStreams(conn, ['stdin', 'stdout', 'resize']);
    const out = readAll(s.stdout!);
    s.resize!.write('{"Width":80,"Height":24}\n');
    await new Promise((r) => setTimeout(r, 50));
    s.resize!.write('{"Width":132,"Height":43}\n');
    await new Promise((r) => setTimeout(r, 50));
    s.stdin!.end();
    s.resize!.end();
    assert.equal(await out, '80x24\n132x43\n');
    assert.deepEqual(JSON.parse(await readAll(s.error!)), { metadata: {}, status: 'Success' });
    assert.ok(runtime.calls.includes('exec c1 resize 2 tty=true'));
  });

  it('attaches', async () => {
    const url = server.getAttach({
      containerId: 'c2',
      stdin: true,
      stdout: true,
      stderr: false,
      tty: false,
    }).url;
    const { conn } = await upgraded(url);
    const s = await openStreams(conn, ['stdin', 'stdout']);
    const out = readAll(s.stdout!);
    s.stdin!.end('attached');
    assert.equal(await out, 'attached');
    assert.deepEqual(JSON.parse(await readAll(s.error!)), { metadata: {}, status: 'Success' });
  });

  it('forwards ports, one stream pair per connection, several at once', async () => {
    const { conn, protocol } = await upgraded(
      server.getPortForward({ podSandboxId: 'pod1', port: [] }).url,
      ['portforward.k8s.io'],
    );
    assert.equal(protocol, 'portforward.k8s.io');
    const forward = async (requestId: number, text: string): Promise<string> => {
      const h = { port: [String(echoPort)], requestid: [String(requestId)] };
      const error = await conn.openStream({ ...h, streamtype: ['error'] });
      error.end();
      const data = await conn.openStream({ ...h, streamtype: ['data'] });
      const back = readAll(data);
      data.end(text);
      const [got, err] = await Promise.all([back, readAll(error)]);
      assert.equal(err, '');
      return got;
    };
    const results = await Promise.all(
      [0, 1, 2, 3].map((i) => forward(i, `conn ${i} `.repeat(10_000))),
    );
    for (const [i, r] of results.entries()) assert.equal(r, `conn ${i} `.repeat(10_000));
    assert.ok(runtime.calls.includes(`portforward pod1 ${echoPort}`));
    conn.destroy();
  });

  it('writes port-forward failures to the error stream and rejects bad stream headers', async () => {
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const deadPort = (closed.address() as { port: number }).port;
    await new Promise((r) => closed.close(r));
    const { conn } = await upgraded(server.getPortForward({ podSandboxId: 'pod2', port: [] }).url, [
      'portforward.k8s.io',
    ]);
    const h = { port: [String(deadPort)], requestid: ['0'] };
    const error = await conn.openStream({ ...h, streamtype: ['error'] });
    error.end();
    const data = await conn.openStream({ ...h, streamtype: ['data'] });
    data.resume();
    assert.match(
      await readAll(error),
      new RegExp(`^error forwarding port ${deadPort} to pod pod2, uid : connect ECONNREFUSED`),
    );
    await assert.rejects(conn.openStream({ port: ['0'], streamtype: ['data'] }), /reset/);
    await assert.rejects(conn.openStream({ port: ['80'], streamtype: ['stdout'] }), /reset/);
    await assert.rejects(conn.openStream({ streamtype: ['data'] }), /reset/);
    conn.destroy();
  });

  it('answers 404 to an unknown, used or expired token, and to a token of another kind', async () => {
    const { url } = server.getExec(execReq(['cat']));
    const first = await upgraded(url);
    first.conn.destroy();
    assert.equal((await refused(url)).status, 404);
    assert.equal((await refused(`${server.url}/exec/AAAAAAAA`)).status, 404);
    const attach = server.getAttach({
      containerId: 'c',
      stdin: true,
      stdout: false,
      stderr: false,
      tty: false,
    });
    assert.equal((await refused(attach.url.replace('/attach/', '/exec/'))).status, 404);
    assert.equal((await refused(`${server.url}/other/x`)).status, 404);

    const shortLived = new StreamingServer({
      address: '127.0.0.1',
      port: 0,
      runtime,
      log: nullLogger,
      requestTtlMs: 20,
    });
    await shortLived.start();
    const expiring = shortLived.getExec(execReq(['cat'])).url;
    await new Promise((r) => setTimeout(r, 50));
    assert.equal((await refused(expiring)).status, 404);
    await shortLived.close();
  });

  it('negotiates the protocol as httpstream does', async () => {
    const none = await refused(server.getExec(execReq(['cat'])).url, []);
    assert.equal(none.status, 400);
    assert.match(none.body, /X-Stream-Protocol-Version is required/);
    const bad = await refused(server.getExec(execReq(['cat'])).url, [
      'v9.channel.k8s.io',
      'portforward.k8s.io',
    ]);
    assert.equal(bad.status, 403);
    assert.equal(
      bad.headers['x-accepted-stream-protocol-versions'],
      'v4.channel.k8s.io, v3.channel.k8s.io, v2.channel.k8s.io, channel.k8s.io',
    );
    const plain = await refused(server.getExec(execReq(['cat'])).url, [V4], { upgrade: false });
    assert.equal(plain.status, 400);
    assert.match(plain.body, /missing upgrade headers/);
  });

  it('does not let a slow reader make it buffer: the runtime waits for the client', async () => {
    runtime.written = 0;
    const total = 32 << 20;
    const { conn } = await upgraded(
      server.getExec(execReq(['big', String(total)], { stdin: false })).url,
    );
    const s = await openStreams(conn, ['stdout', 'stderr']);
    s.stdout!.pause();
    // What is in flight fills the sockets' kernel buffers, then the runtime's writes wait.
    await new Promise((r) => setTimeout(r, 300));
    const stalled = runtime.written;
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(runtime.written, stalled, 'the runtime wrote on while nobody read');
    assert.ok(stalled < total / 2, `the runtime wrote ${stalled} bytes while nobody read`);
    let got = 0;
    let ok = true;
    for await (const c of s.stdout!) {
      const b = c as Buffer;
      for (let i = 0; i < b.length; i += 4093)
        if (b[i] !== ((got + i) % (16 * 1024)) % 251) ok = false;
      got += b.length;
    }
    assert.equal(got, total);
    assert.ok(ok, 'stdout arrived intact and in order');
    assert.deepEqual(JSON.parse(await readAll(s.error!)), { metadata: {}, status: 'Success' });
  });

  it('honours the windows of a client that does SPDY/3.1 flow control', async () => {
    const { conn } = await upgraded(
      server.getExec(execReq(['big', String(1 << 20)], { stdin: false })).url,
    );
    // A WINDOW_UPDATE tells the server this client counts windows: from then on it gets at most its window.
    const internals = conn as unknown as { socket: { write(b: Buffer): boolean } };
    internals.socket.write(encodeWindowUpdate(0, 1));
    const s = await openStreams(conn, ['stdout', 'stderr']);
    s.stdout!.pause();
    await new Promise((r) => setTimeout(r, 200));
    const buffered = s.stdout!.readableLength;
    assert.ok(buffered <= 64 * 1024 + 1, `received ${buffered} bytes past a 64 KiB window`);
    // Reading credits the window back (this client's side sends WINDOW_UPDATEs as it reads).
    assert.equal((await readAll(s.stdout!)).length, 1 << 20);
    await readAll(s.error!);
  });

  it('serves on IPv6 addresses, bracketed in its URLs', async (t) => {
    const v6 = new StreamingServer({ address: '::1', port: 0, runtime, log: nullLogger });
    try {
      await v6.start();
    } catch {
      t.skip('no IPv6 loopback here');
      return;
    }
    const { url } = v6.getExec(execReq(['fail', '0', 'v6'], { stdin: false }));
    assert.match(url, /^http:\/\/\[::1\]:\d+\/exec\//);
    const { conn } = await upgraded(url);
    const s = await openStreams(conn, ['stdout', 'stderr']);
    assert.equal(await readAll(s.stdout!), 'v6');
    await v6.close();
  });

  it('says why it cannot listen', async () => {
    const taken = new URL(server.url).port;
    const other = new StreamingServer({
      address: '127.0.0.1',
      port: taken,
      runtime,
      log: nullLogger,
    });
    await assert.rejects(
      other.start(),
      /streaming server: cannot listen on 127\.0\.0\.1:\d+: .*EADDRINUSE/,
    );
    const bad = new StreamingServer({
      address: '127.0.0.1',
      port: '70000',
      runtime,
      log: nullLogger,
    });
    await assert.rejects(
      bad.start(),
      (e: Error) => isInvalidArgument(e) && /port "70000"/.test(e.message),
    );
  });

  it('tells the runtime when the client is gone', async () => {
    const { conn } = await upgraded(server.getExec(execReq(['until-gone'], { stdin: false })).url);
    await openStreams(conn, ['stdout', 'stderr']);
    await new Promise((r) => setTimeout(r, 50));
    assert.ok(!runtime.calls.includes('until-gone ended'));
    conn.destroy();
    for (let i = 0; i < 100 && !runtime.calls.includes('until-gone ended'); i++) {
      await new Promise((r) => setTimeout(r, 10));
    }
    assert.ok(runtime.calls.includes('until-gone ended'));
  });

  it('ends every session when closed', async () => {
    const own = new StreamingServer({ address: '127.0.0.1', port: '0', runtime, log: nullLogger });
    await own.start();
    const { conn } = await upgraded(own.getExec(execReq(['hang'])).url);
    const s = await openStreams(conn, ['stdin', 'stdout', 'stderr']);
    const out = readAll(s.stdout!);
    const started = Date.now();
    await own.close();
    await conn.closed;
    assert.equal(await out, '');
    assert.ok(Date.now() - started < 3000);
    assert.throws(() => own.getExec(execReq(['cat'])), /closed/);
  });
});
