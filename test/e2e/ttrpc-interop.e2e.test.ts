import assert from 'node:assert/strict';
import { type ChildProcessWithoutNullStreams, execFile, spawn } from 'node:child_process';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { BinaryReader, BinaryWriter } from '@bufbuild/protobuf/wire';
import { type ErrorKind, notFound } from '../../src/core/errdefs/index.js';
import { nullLogger } from '../../src/core/log/index.js';
import {
  MAX_MESSAGE_LENGTH,
  TtrpcClient,
  type TtrpcRequestContext,
  TtrpcServer,
} from '../../src/ttrpc/index.js';
import { buildGoProgram } from '../helpers/go.js';
import { type TempDir, tempDir } from '../helpers/tmp.js';

/**
 * berth's ttrpc against github.com/containerd/ttrpc as Debian installs it
 * (1.1, what containerd-shim-runc-v2 1.6 speaks): test/go/ttrpcpeer serves
 * a Go ttrpc service for our client, and calls our server with the Go client.
 * Messages are google.protobuf.StringValue.
 */

const run = promisify(execFile);

type Thrown = Error & { kind: ErrorKind };

/** google.protobuf.StringValue: field 1, a string. */
function stringValue(value: string): Uint8Array {
  return new BinaryWriter().uint32(10).string(value).finish();
}

function readStringValue(bytes: Uint8Array): string {
  const reader = new BinaryReader(bytes);
  let value = '';
  while (reader.pos < reader.len) {
    const tag = reader.uint32();
    if (tag === 10) value = reader.string();
    else reader.skip(tag & 7);
  }
  return value;
}

async function rejection(p: Promise<unknown>): Promise<Thrown> {
  return p.then(
    () => assert.fail('expected the call to fail'),
    (err: unknown) => err as Thrown,
  );
}

/** Starts `ttrpcpeer serve` and waits for its "ready" line. */
async function startGoServer(bin: string, socket: string): Promise<ChildProcessWithoutNullStreams> {
  const child = spawn(bin, ['serve', socket], { env: {} });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`ttrpcpeer serve: not ready\n${stderr}`)),
      30_000,
    );
    child.stdout.once('data', (d: Buffer) => {
      clearTimeout(timer);
      if (d.toString().trim() === 'ready') resolve();
      else reject(new Error(`ttrpcpeer serve said ${JSON.stringify(d.toString())}\n${stderr}`));
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`ttrpcpeer serve exited ${code}\n${stderr}`));
    });
  });
  return child;
}

/** Ends the Go server by closing its stdin; kills it (by pid) if it lingers. */
async function stopGoServer(child: ChildProcessWithoutNullStreams): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.stdin.end();
  const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(timer);
}

describe('ttrpc interop with Go github.com/containerd/ttrpc', () => {
  let dir: TempDir;
  let bin: string;

  before(async () => {
    dir = tempDir();
    bin = await buildGoProgram(dir, 'ttrpcpeer');
  });
  after(() => dir?.remove());

  describe('our client calls the Go server', () => {
    const SERVICE = 'berth.test.Peer';
    let peer: ChildProcessWithoutNullStreams | undefined;
    let client: TtrpcClient | undefined;

    before(async () => {
      const socket = join(dir.path, 'go-server.sock');
      peer = await startGoServer(bin, socket);
      client = await TtrpcClient.connect(`unix://${socket}`, { log: nullLogger });
    });
    after(async () => {
      client?.close();
      if (peer) await stopGoServer(peer);
    });

    const c = (): TtrpcClient => {
      assert.ok(client);
      return client;
    };

    it('passes the message, metadata and deadline', async () => {
      const out = await c().call(SERVICE, 'Echo', stringValue('hello'), {
        metadata: { 'containerd-namespace-ttrpc': 'ns1', Multi: ['a', 'b'] },
        timeoutMs: 5000,
      });
      const seen = JSON.parse(readStringValue(out)) as {
        value: string;
        metadata: Record<string, string[]>;
        hasDeadline: boolean;
        remainingMs: number;
      };
      assert.equal(seen.value, 'hello');
      assert.deepEqual(seen.metadata, { 'containerd-namespace-ttrpc': ['ns1'], multi: ['a', 'b'] });
      assert.equal(seen.hasDeadline, true);
      assert.ok(seen.remainingMs > 4000 && seen.remainingMs <= 5000, `${seen.remainingMs} ms left`);

      const plain = JSON.parse(
        readStringValue(await c().call(SERVICE, 'Echo', stringValue('x'))),
      ) as {
        hasDeadline: boolean;
        metadata: Record<string, string[]>;
      };
      assert.equal(plain.hasDeadline, false);
      assert.deepEqual(plain.metadata, {});
    });

    it("turns containerd's error status into a berth error with its code and message", async () => {
      const err = await rejection(c().call(SERVICE, 'NotFound', stringValue('x')));
      assert.equal(err.kind, 'not_found');
      assert.equal(err.message, 'container "x": not found');
      const bad = await rejection(c().call(SERVICE, 'Size', stringValue('many')));
      assert.equal(bad.kind, 'invalid_argument');
      assert.match(bad.message, /^size "many": /);
    });

    it('gets not_implemented for an unknown service or method', async () => {
      const svc = await rejection(c().call('no.such.Service', 'Echo', stringValue('')));
      assert.equal(svc.kind, 'not_implemented');
      assert.equal(svc.message, 'service no.such.Service');
      const method = await rejection(c().call(SERVICE, 'Nope', stringValue('')));
      assert.equal(method.kind, 'not_implemented');
      assert.equal(method.message, 'method Nope');
    });

    it('times out locally, and the connection survives the late answer', async () => {
      const started = Date.now();
      const err = await rejection(c().call(SERVICE, 'Wait', stringValue(''), { timeoutMs: 200 }));
      assert.equal(err.kind, 'deadline_exceeded');
      assert.ok(Date.now() - started < 2000);
      // The Go handler ends at the same deadline (timeout_nano) and answers late.
      await sleep(200);
      assert.equal(
        JSON.parse(readStringValue(await c().call(SERVICE, 'Echo', stringValue('on')))).value,
        'on',
      );
    });

    it('fails an oversize response with resource_exhausted and stays in step', async () => {
      // Go ttrpc 1.1 sends it unchecked; our client skips it unread.
      const err = await rejection(
        c().call(SERVICE, 'Size', stringValue(String(MAX_MESSAGE_LENGTH))),
      );
      assert.equal(err.kind, 'resource_exhausted');
      assert.match(
        err.message,
        /response of \d+ bytes exceeds the maximum message size of 4194304/,
      );
      const fits = await c().call(SERVICE, 'Size', stringValue(String(MAX_MESSAGE_LENGTH - 100)));
      assert.equal(readStringValue(fits).length, MAX_MESSAGE_LENGTH - 100);
    });

    it('runs many calls at once on one connection', async () => {
      const values = Array.from({ length: 64 }, (_, i) => `v${i}`);
      const outs = await Promise.all(values.map((v) => c().call(SERVICE, 'Echo', stringValue(v))));
      assert.deepEqual(
        outs.map((o) => JSON.parse(readStringValue(o)).value),
        values,
      );
    });
  });

  describe('the Go client calls our server', () => {
    let server: TtrpcServer | undefined;
    let lines = new Map<string, string>();
    const hang: { reason?: string; deadline?: number; started?: number; aborted?: number } = {};
    let oversizeHandled = false;

    before(async () => {
      const socket = join(dir.path, 'berth-server.sock');
      server = new TtrpcServer({ log: nullLogger });
      const SERVICE = 'berth.test.Echo';
      const echo = (payload: Uint8Array, ctx: TtrpcRequestContext): Uint8Array =>
        stringValue(
          JSON.stringify({
            value: readStringValue(payload),
            metadata: Object.fromEntries(ctx.metadata),
          }),
        );
      server.register(SERVICE, 'Echo', async (payload, ctx) => {
        if (readStringValue(payload).length > 1 << 20) oversizeHandled = true;
        return echo(payload, ctx);
      });
      server.register(SERVICE, 'NotFound', async (payload) => {
        throw notFound(`container ${JSON.stringify(readStringValue(payload))}`);
      });
      server.register(SERVICE, 'Unclassified', async () => {
        throw new Error('boom');
      });
      server.register(SERVICE, 'Deadline', async (_payload, ctx) =>
        stringValue(ctx.deadline === undefined ? 'none' : String(ctx.deadline - Date.now())),
      );
      server.register(SERVICE, 'Hang', (_payload, ctx) => {
        hang.started = Date.now();
        if (ctx.deadline !== undefined) hang.deadline = ctx.deadline;
        return new Promise((_resolve, reject) => {
          ctx.signal.addEventListener(
            'abort',
            () => {
              hang.aborted = Date.now();
              hang.reason = (ctx.signal.reason as Error).name;
              reject(ctx.signal.reason);
            },
            { once: true },
          );
        });
      });
      server.register(SERVICE, 'Delay', async (payload) => {
        const ms = Number(readStringValue(payload));
        await sleep(ms);
        return stringValue(String(ms));
      });
      await server.listen(socket);

      try {
        const { stdout } = await run(bin, ['call', socket], { timeout: 60_000, env: {} });
        lines = new Map(
          stdout
            .split('\n')
            .filter((l) => l !== '')
            .map((l) => {
              const i = l.indexOf(': ');
              assert.ok(i > 0, `not a key: value line: ${JSON.stringify(l)}`);
              return [l.slice(0, i), l.slice(i + 2)] as [string, string];
            }),
        );
      } catch (err) {
        const e = err as { stdout?: string; stderr?: string; code?: number };
        throw new Error(
          `ttrpcpeer call failed (${e.code}):\n${e.stderr ?? ''}\nstdout:\n${e.stdout ?? ''}`,
        );
      }
    });
    after(async () => {
      await server?.close();
    });

    it('delivers the message and metadata', () => {
      const echo = JSON.parse(lines.get('echo') ?? 'null');
      assert.deepEqual(echo, {
        value: 'hello',
        metadata: { 'containerd-namespace-ttrpc': ['ns1'], multi: ['a', 'b'] },
      });
    });

    it("answers errors the Go client and containerd's errdefs understand", () => {
      assert.equal(lines.get('not-found'), 'NotFound container "x": not found');
      assert.equal(lines.get('not-found.is-not-found'), 'true');
      assert.equal(lines.get('unclassified'), 'Unknown boom');
    });

    it('answers Unimplemented for an unknown service or method, worded as Go ttrpc does', () => {
      assert.equal(lines.get('unknown-service'), 'Unimplemented service no.such.Service');
      assert.equal(lines.get('unknown-method'), 'Unimplemented method NoSuchMethod');
    });

    it("gives handlers the caller's deadline and aborts them when it passes", () => {
      const left = Number(lines.get('deadline'));
      assert.ok(left > 1500 && left <= 2000, `deadline line ${lines.get('deadline')}`);
      assert.equal(lines.get('hang.deadline-exceeded'), 'true');
      assert.equal(hang.reason, 'TimeoutError');
      assert.ok(hang.started !== undefined && hang.aborted !== undefined);
      const waited = hang.aborted - hang.started;
      assert.ok(waited >= 250 && waited < 1500, `aborted after ${waited} ms`);
    });

    it('answers an oversize request RESOURCE_EXHAUSTED and keeps the connection in step', () => {
      assert.match(
        lines.get('oversize') ?? '',
        /^ResourceExhausted message length \d+ exceed maximum message size of 4194304$/,
      );
      assert.equal(oversizeHandled, false);
      assert.equal(JSON.parse(lines.get('after-oversize') ?? 'null').value, 'after');
    });

    it('answers concurrent calls out of order, each on its own stream', () => {
      assert.equal(lines.get('concurrent'), '300,200,100,0,250,50');
    });
  });
});
