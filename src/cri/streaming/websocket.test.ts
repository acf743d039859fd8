import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { nullLogger } from '../../core/log/index.js';
import { StreamingServer } from './server.js';
import { FakeRuntime } from './testing/fake-runtime.js';
import { dialWs, type WsMessage, type WsTestClient } from './testing/ws-client.js';
import { encodeWsFrame, Opcode, WsFrameReader } from './websocket/frames.js';

const run = promisify(execFile);

async function open(url: string, protocols: string[]): Promise<WsTestClient> {
  const c = await dialWs(url, protocols);
  if ('status' in c) assert.fail(`websocket refused: ${c.status} ${c.body}`);
  return c;
}

/** The data of a binary channel message: [channel, data]. */
function channelOf(m: WsMessage | undefined): [number, string] {
  assert.ok(m, 'a message');
  return [m.data[0]!, m.data.subarray(1).toString()];
}

describe('websocket frames', () => {
  it('round-trips masked and unmasked frames of every length class', () => {
    for (const len of [0, 5, 125, 126, 65535, 65536, 200_000]) {
      const payload = Buffer.alloc(len, 7);
      for (const mask of [false, true]) {
        const r = new WsFrameReader(mask, 1 << 20);
        const wire = encodeWsFrame(Opcode.Binary, payload, { mask });
        for (let i = 0; i < wire.length; i += 1000) r.push(wire.subarray(i, i + 1000));
        assert.deepEqual(r.next(), { fin: true, opcode: Opcode.Binary, payload });
      }
    }
  });

  it('refuses unmasked client frames, reserved bits and oversize frames', () => {
    const r = new WsFrameReader(true, 100);
    r.push(encodeWsFrame(Opcode.Text, Buffer.from('x')));
    assert.throws(() => r.next(), /not masked/);
    const rsv = new WsFrameReader(false, 100);
    rsv.push(Buffer.from([0xc1, 0]));
    assert.throws(() => rsv.next(), /reserved bits/);
    const big = new WsFrameReader(false, 100);
    big.push(encodeWsFrame(Opcode.Binary, Buffer.alloc(101)).subarray(0, 4));
    assert.throws(() => big.next(), /101 bytes: at most 100/);
  });
});

describe('streaming server (WebSocket channel protocols)', () => {
  const runtime = new FakeRuntime();
  let server: StreamingServer;
  let echo: Server;
  let echoPort = 0;

  before(async () => {
    server = new StreamingServer({ address: '127.0.0.1', port: 0, runtime, log: nullLogger });
    await server.start();
    echo = createServer((s) => s.pipe(s));
    await new Promise<void>((r) => echo.listen(0, '127.0.0.1', r));
    echoPort = (echo.address() as { port: number }).port;
  });
  after(async () => {
    await server.close();
    await new Promise((r) => echo.close(r));
  });

  const execUrl = (cmd: string[], o: { tty?: boolean; stdin?: boolean } = {}) =>
    server.getExec({
      containerId: 'w',
      cmd,
      tty: o.tty ?? false,
      stdin: o.stdin ?? true,
      stdout: true,
      stderr: !o.tty,
    }).url;

  it('execs over v4.channel.k8s.io: the ready message, stdin to stdout, a JSON status, then close', async () => {
    const c = await open(execUrl(['cat']), ['v4.channel.k8s.io', 'channel.k8s.io']);
    assert.equal(c.protocol, 'v4.channel.k8s.io');
    assert.deepEqual(
      channelOf(await c.next()),
      [1, ''],
      'an empty stdout message says the session is up',
    );
    c.send(Opcode.Binary, Buffer.from('\u0000hello ws'));
    assert.deepEqual(channelOf(await c.next()), [1, 'hello ws']);
    // v4 has no way to close stdin: closing the connection does; the runtime then sees stdin end.
    c.close();
    const rest = await c.rest();
    assert.ok(rest.some((m) => m.opcode === Opcode.Close));
  });

  it('reports exit codes on the error channel, JSON in v4 and text before', async () => {
    const v4 = await open(execUrl(['fail', '4', 'no'], { stdin: false }), ['v4.channel.k8s.io']);
    const msgs = (await v4.rest())
      .filter((m) => m.opcode === Opcode.Binary)
      .map((m) => channelOf(m));
    assert.deepEqual(msgs.slice(0, 3), [
      [1, ''],
      [1, 'no'],
      [2, 'no on stderr'],
    ]);
    const status = JSON.parse(msgs.find(([ch]) => ch === 3)![1]);
    assert.equal(status.reason, 'NonZeroExitCode');
    assert.deepEqual(status.details.causes, [{ reason: 'ExitCode', message: '4' }]);

    const v1 = await open(execUrl(['fail', '4', 'no'], { stdin: false }), []);
    assert.equal(v1.protocol, '');
    const text = (await v1.rest())
      .filter((m) => m.opcode === Opcode.Binary)
      .map((m) => channelOf(m));
    assert.deepEqual(
      text.find(([ch]) => ch === 3),
      [
        3,
        'command terminated with non-zero exit code: error executing command [fail 4 no], exit code 4',
      ],
    );
  });

  it('speaks base64.channel.k8s.io: text messages, an ASCII channel digit, base64 data; resize on channel 4', async () => {
    const c = await open(execUrl(['resize', '1'], { tty: true }), ['v4.base64.channel.k8s.io']);
    assert.equal(c.protocol, 'v4.base64.channel.k8s.io');
    const ready = await c.next();
    assert.deepEqual(ready, { opcode: Opcode.Text, data: Buffer.from('1') });
    c.send(
      Opcode.Text,
      Buffer.from(`4${Buffer.from('{"Width":90,"Height":30}\n').toString('base64')}`),
    );
    const out = await c.next();
    assert.equal(out?.opcode, Opcode.Text);
    assert.equal(out!.data.toString()[0], '1');
    assert.equal(Buffer.from(out!.data.toString().slice(1), 'base64').toString(), '90x30\n');
    const status = await c.next();
    assert.equal(status!.data.toString()[0], '3');
    assert.deepEqual(
      JSON.parse(Buffer.from(status!.data.toString().slice(1), 'base64').toString()),
      {
        metadata: {},
        status: 'Success',
      },
    );
  });

  it("forwards the request's ports: each channel pair opens with the port, data echoes back", async () => {
    const url = server.getPortForward({ podSandboxId: 'wpod', port: [echoPort] }).url;
    const c = await open(url, ['v4.channel.k8s.io']);
    const port = Buffer.alloc(2);
    port.writeUInt16LE(echoPort);
    const first = [await c.next(), await c.next()].map((m) => m!.data);
    assert.deepEqual(first.sort(Buffer.compare), [
      Buffer.concat([Buffer.from([0]), port]),
      Buffer.concat([Buffer.from([1]), port]),
    ]);
    c.send(Opcode.Binary, Buffer.concat([Buffer.from([0]), Buffer.from('ping through ws')]));
    let got = '';
    while (got.length < 'ping through ws'.length) {
      const [ch, data] = channelOf(await c.next());
      assert.equal(ch, 0);
      got += data;
    }
    assert.equal(got, 'ping through ws');
    c.close();
    await c.rest();
    assert.ok(runtime.calls.includes(`portforward wpod ${echoPort}`));
  });

  it("works with an independent client (Node's WebSocket, undici)", async () => {
    const script = join(import.meta.dirname, 'testing/undici-ws-exec.mjs');
    const { stdout } = await run(
      process.execPath,
      [
        '--experimental-websocket',
        '--no-warnings',
        script,
        execUrl(['cat']),
        'v4.channel.k8s.io',
        'from undici',
      ],
      { timeout: 20_000 },
    );
    const r = JSON.parse(stdout);
    assert.equal(r.protocol, 'v4.channel.k8s.io');
    assert.deepEqual(r.messages.slice(0, 2), [
      [1, ''],
      [1, 'from undici'],
    ]);
  });

  it('makes the runtime wait for a slow reader, and closing the server ends the session', async () => {
    const own = new StreamingServer({ address: '127.0.0.1', port: 0, runtime, log: nullLogger });
    await own.start();
    const total = 64 << 20;
    const url = own.getExec({
      containerId: 'w',
      cmd: ['big', String(total)],
      tty: false,
      stdin: false,
      stdout: true,
      stderr: false,
    }).url;
    const c = await open(url, ['v4.channel.k8s.io']);
    c.socket.pause();
    await new Promise((r) => setTimeout(r, 300));
    const stalled = runtime.written;
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(runtime.written, stalled, 'the runtime wrote on while nobody read');
    assert.ok(stalled < total / 2);
    await own.close();
    c.socket.resume();
    await c.rest();
    assert.ok(c.ended);
  });

  it('refuses bad handshakes as x/net/websocket does', async () => {
    const version = await dialWs(execUrl(['cat']), [], { version: '8' });
    assert.ok('status' in version && version.status === 400);
    const proto = await dialWs(execUrl(['cat']), ['v9.channel.k8s.io']);
    assert.ok('status' in proto && proto.status === 403);
    const post = await dialWs(execUrl(['cat']), [], { method: 'POST' });
    assert.ok('status' in post && post.status === 405);
    const noPorts = await dialWs(server.getPortForward({ podSandboxId: 'p', port: [] }).url, []);
    assert.ok('status' in noPorts && noPorts.status === 400);
  });
});
