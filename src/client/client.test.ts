import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import {
  IntrospectionService,
  type Plugin,
} from '../api/containerd/services/introspection/v1/introspection.js';
import { Client, DEFAULT_ADDRESS } from './client.js';
import { isCanceled, isInvalidArgument, isUnavailable } from './errors.js';
import { signalNumber } from './task.js';

describe('Client', () => {
  const dir = mkdtempSync(join(tmpdir(), 'berth-client-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('reads CONTAINERD_ADDRESS and CONTAINERD_NAMESPACE, with berthd’s defaults', () => {
    const saved = { ...process.env };
    try {
      delete process.env.CONTAINERD_ADDRESS;
      delete process.env.CONTAINERD_NAMESPACE;
      const a = Client.fromEnv();
      assert.equal(a.address, DEFAULT_ADDRESS);
      assert.equal(a.namespace, 'default');
      a.close();
      process.env.CONTAINERD_ADDRESS = '/tmp/x.sock';
      process.env.CONTAINERD_NAMESPACE = 'k8s.io';
      const b = Client.fromEnv();
      assert.equal(b.address, '/tmp/x.sock');
      assert.equal(b.namespace, 'k8s.io');
      b.close();
    } finally {
      process.env = saved;
    }
  });

  it('derives clients that share the channel and scope calls differently', () => {
    const c = new Client(join(dir, 'none.sock'), { namespace: 'a' });
    const d = c.withNamespace('b');
    const e = d.withLease('l1');
    assert.equal(d.connection, c.connection);
    assert.equal(e.connection, c.connection);
    assert.equal(d.namespace, 'b');
    assert.equal(e.namespace, 'b');
    assert.equal(e.lease, 'l1');
    assert.deepEqual(
      { ns: e.context().namespace, lease: e.context().lease },
      { ns: 'b', lease: 'l1' },
    );
    // Closing a derived client leaves the shared channel to its origin.
    d.close();
    assert.notEqual(c.connection.channel.getConnectivityState(false), 4);
    c.close();
    assert.equal(c.connection.channel.getConnectivityState(false), 4);
  });

  it('fails unavailable, naming the address, when the daemon is not there', async () => {
    const socket = join(dir, 'missing.sock');
    const c = new Client(socket, { namespace: 'default', timeoutMs: 200 });
    const t0 = Date.now();
    try {
      await assert.rejects(
        c.version(),
        (e: Error) => isUnavailable(e) && e.message.includes(socket),
      );
      assert.ok(Date.now() - t0 < 5_000);
    } finally {
      c.close();
    }
  });

  it('fails canceled when the signal is aborted, and after close unavailable', async () => {
    const c = new Client(join(dir, 'missing.sock'), { namespace: 'default', timeoutMs: 5_000 });
    const ac = new AbortController();
    const call = c.version({ signal: ac.signal });
    setTimeout(() => ac.abort(new Error('enough')), 50);
    await assert.rejects(call, (e: Error) => isCanceled(e) && /enough/.test(e.message));
    c.close();
    await assert.rejects(c.version(), isUnavailable);
  });

  it('refuses an empty snapshotter name', () => {
    const c = new Client(join(dir, 'none.sock'));
    try {
      assert.throws(() => c.snapshotService(''), isInvalidArgument);
    } finally {
      c.close();
    }
  });
});

describe('Client.defaultRuntime', () => {
  const dir = mkdtempSync(join(tmpdir(), 'berth-client-rt-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  const plugin = (type: string, id: string, exports: Record<string, string>): Plugin => ({
    type,
    id,
    requires: [],
    platforms: [],
    exports,
    capabilities: [],
  });

  /** A stand-in daemon answering Introspection.Plugins with `plugins`; counts the calls. */
  async function daemon(name: string, plugins: Plugin[]) {
    const server = new grpc.Server();
    const calls = { plugins: 0 };
    server.addService(IntrospectionService, {
      plugins: (_call: unknown, cb: grpc.sendUnaryData<{ plugins: Plugin[] }>) => {
        calls.plugins += 1;
        cb(null, { plugins });
      },
    });
    const socket = join(dir, `${name}.sock`);
    await new Promise<void>((resolve, reject) =>
      server.bindAsync(`unix:${socket}`, grpc.ServerCredentials.createInsecure(), (err) =>
        err ? reject(err) : resolve(),
      ),
    );
    return { socket, calls, stop: () => server.forceShutdown() };
  }

  it("takes berthd's exported default_runtime, asking once per connection", async () => {
    const d = await daemon('berthd', [
      plugin('io.containerd.snapshotter.v1', 'overlayfs', { root: '/x' }),
      plugin('io.containerd.runtime.v2', 'task', { default_runtime: 'io.containerd.berth.v1' }),
    ]);
    const c = new Client(d.socket, { namespace: 'default' });
    try {
      assert.equal(c.runtime, undefined);
      assert.equal(await c.defaultRuntime(), 'io.containerd.berth.v1');
      assert.equal(await c.withNamespace('other').defaultRuntime(), 'io.containerd.berth.v1');
      assert.equal(d.calls.plugins, 1);
    } finally {
      c.close();
      d.stop();
    }
  });

  it("is io.containerd.runc.v2 with containerd (no such export), and the options' runtime first", async () => {
    const d = await daemon('containerd', [plugin('io.containerd.runtime.v2', 'task', {})]);
    const c = new Client(d.socket, { namespace: 'default' });
    const named = new Client(d.socket, { namespace: 'default', runtime: 'io.containerd.kata.v2' });
    try {
      assert.equal(await c.defaultRuntime(), 'io.containerd.runc.v2');
      assert.equal(await named.defaultRuntime(), 'io.containerd.kata.v2');
      assert.equal(d.calls.plugins, 1, 'a named runtime asks nothing');
    } finally {
      c.close();
      named.close();
      d.stop();
    }
  });
});

describe('signalNumber', () => {
  it('takes numbers and names with or without SIG', () => {
    assert.equal(signalNumber(9), 9);
    assert.equal(signalNumber('SIGTERM'), 15);
    assert.equal(signalNumber('term'), 15);
    assert.equal(signalNumber('KILL'), 9);
    assert.equal(signalNumber('10'), 10);
    assert.throws(() => signalNumber('SIGNOPE'), isInvalidArgument);
    assert.throws(() => signalNumber(0), isInvalidArgument);
  });
});
