import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, lstatSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { credentials, Metadata, type ServiceError, status } from '@grpc/grpc-js';
import { TasksClient } from '../../src/api/containerd/services/tasks/v1/tasks.js';
import { HealthClient } from '../../src/api/grpc/health/v1/health.js';
import { BERTHD, Berthd } from '../helpers/berthd.js';
import { ctr, ctrOk, ctrOkAsync, ctrSpawn, table } from '../helpers/ctr.js';
import {
  daemonKind,
  startDaemonWithImage,
  type TestDaemon,
  uniqueId,
  waitFor,
} from '../helpers/daemon.js';
import { tempDir } from '../helpers/tmp.js';

const root = process.getuid?.() === 0;

describe('berthd lifecycle', { skip: !root && 'needs root' }, () => {
  const started: Berthd[] = [];
  const start = async (opts: Parameters<typeof Berthd.start>[0] = {}) => {
    const d = await Berthd.start(opts);
    started.push(d);
    return d;
  };
  after(async () => {
    for (const d of started) await d.kill9();
    for (const d of new Set(started.map((s) => s.dir))) d.remove();
  });

  it('writes its pid file, binds the socket 0660 root:root and logs JSON', async () => {
    const d = await start();
    assert.equal(d.readPidFile(), d.pid);
    const st = lstatSync(d.socket);
    assert.ok(st.isSocket());
    assert.equal(st.mode & 0o777, 0o660);
    assert.equal(st.uid, 0);
    assert.equal(st.gid, 0);
    const lines = d.output.trim().split('\n');
    const started = lines
      .map((l) => JSON.parse(l) as { msg: string; level: number })
      .find((l) => l.msg === 'berthd started');
    assert.ok(started, `no JSON "berthd started" line in:\n${d.output}`);
    assert.equal(await d.stop(), 0);
    assert.equal(existsSync(join(d.state, 'berthd.pid')), false);
    assert.equal(existsSync(d.socket), false);
  });

  it('does not let a non-root user talk to the socket', async () => {
    const d = await start();
    // Let anyone traverse to the socket, so only its own mode decides.
    chmodSync(d.dir.path, 0o755);
    const asNobody = spawnSync(
      'setpriv',
      ['--reuid=65534', '--regid=65534', '--clear-groups', 'ctr', '--address', d.socket, 'version'],
      { encoding: 'utf8', timeout: 30_000 },
    );
    assert.notEqual(asNobody.status, 0);
    assert.match(asNobody.stderr, /permission denied/i);
    assert.doesNotMatch(asNobody.stdout, /Server:/);
    // Root still can.
    assert.match(ctrOk(d.socket, ['version']), /Server:/);
    await d.stop();
  });

  it('keeps namespaces and the server UUID across a restart', async () => {
    const d1 = await start();
    const c1 = d1.client();
    await c1.namespaces.create('keep', { k: 'v' });
    const uuid = (await c1.introspection.server()).uuid;
    assert.match(uuid, /^[0-9a-f-]{36}$/);
    c1.close();
    assert.equal(await d1.stop(), 0);

    const d2 = await start({ dir: d1.dir });
    const c2 = d2.client();
    assert.deepEqual(await c2.namespaces.list(), [{ name: 'keep', labels: { k: 'v' } }]);
    const server = await c2.introspection.server();
    assert.equal(server.uuid, uuid);
    assert.equal(server.pid, BigInt(d2.pid));
    assert.equal(
      readFileSync(join(d2.root, 'io.containerd.grpc.v1.introspection', 'uuid'), 'utf8'),
      uuid,
    );
    c2.close();
    await d2.stop();
  });

  it('removes a stale socket after kill -9 and refuses a live one', async () => {
    const d1 = await start();
    await d1.kill9();
    assert.ok(existsSync(d1.socket), 'kill -9 leaves the socket file behind');
    const d2 = await start({ dir: d1.dir });

    // A second daemon on the same socket (other root and state) must refuse.
    const other = tempDir();
    try {
      const r = spawnSync(
        BERTHD,
        [
          '--root',
          join(other.path, 'root'),
          '--state',
          join(other.path, 'state'),
          '--address',
          d2.socket,
        ],
        { encoding: 'utf8', timeout: 30_000 },
      );
      assert.equal(r.status, 1);
      assert.match(r.stderr, /a server is listening on it \(another daemon\?\)/);
    } finally {
      other.remove();
    }
    assert.ok(await d2.client().isServing());
    await d2.stop();
  });

  it('ends in-flight streams on SIGTERM with UNAVAILABLE and exits 0', async () => {
    const d = await start();
    const health = new HealthClient(`unix:${d.socket}`, credentials.createInsecure());
    const watch = health.watch({ service: '' }, new Metadata());
    const statuses: number[] = [];
    const ended = new Promise<number>((resolve) => {
      watch.on('data', (m: { status: number }) => statuses.push(m.status));
      watch.on('status', (s: { code: number }) => resolve(s.code));
      watch.on('error', () => {});
    });
    while (statuses.length === 0) await new Promise((r) => setTimeout(r, 20));
    assert.equal(await d.stop(), 0);
    assert.equal(await ended, status.UNAVAILABLE, 'as grpc-go clients see containerd stop');
    assert.deepEqual(statuses, [1]);
    health.close();
  });

  it('stops cleanly on SIGINT too', async () => {
    const d = await start();
    d.proc.kill('SIGINT');
    assert.equal(await d.waitExit(), 0);
    assert.equal(existsSync(d.socket), false);
    assert.match(d.output, /"signal":"SIGINT"/);
  });

  it('binds its socket while it loads: an early call waits for its answer, and SIGTERM then stops it cleanly', async () => {
    const dir = tempDir();
    const p = Berthd.paths(dir);
    const args = ['--root', p.root, '--state', p.state, '--address', p.socket];
    const started: ChildProcess[] = [];
    try {
      // An early call: made as soon as the socket file exists.
      const early = spawn(BERTHD, args, { stdio: ['ignore', 'ignore', 'pipe'] });
      started.push(early);
      const earlyExit = new Promise<number | null>((r) => early.once('exit', (c) => r(c)));
      while (!existsSync(p.socket)) await new Promise((r) => setTimeout(r, 1));
      const health = new HealthClient(`unix:${p.socket}`, credentials.createInsecure());
      const answer = await new Promise<{ err: ServiceError | null; status?: number }>((resolve) =>
        health.check({ service: '' }, (err, res) => resolve({ err, status: res?.status })),
      );
      health.close();
      assert.equal(answer.err, null, `refused early: ${answer.err?.message}`);
      assert.equal(answer.status, 1, 'SERVING');
      early.kill('SIGTERM');
      assert.equal(await earlyExit, 0);

      // SIGTERM as soon as the socket is bound (the plugins most likely still loading).
      const d = spawn(BERTHD, args, { stdio: ['ignore', 'ignore', 'pipe'] });
      started.push(d);
      let stderr = '';
      d.stderr?.on('data', (b: Buffer) => (stderr += b.toString()));
      const exited = new Promise<number | null>((r) => d.once('exit', (c) => r(c)));
      while (!existsSync(p.socket)) await new Promise((r) => setTimeout(r, 1));
      d.kill('SIGTERM');
      assert.equal(await exited, 0, stderr);
      assert.equal(existsSync(p.socket), false, 'the socket is removed');
      assert.equal(existsSync(join(p.state, 'berthd.pid')), false, 'no pid file is left');
    } finally {
      // A failed assertion must not leave a daemon holding the test file open.
      for (const c of started) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
      dir.remove();
    }
  });

  it('logs readable text when asked', async () => {
    const d = await start({ configToml: '[debug]\n  format = "text"\n' });
    await d.stop();
    assert.match(d.output, /INFO.*berthd started/);
    assert.doesNotMatch(d.output, /^\{"level"/m);
  });

  it('reads a TOML config, and flags win over it', async () => {
    const dir = tempDir();
    const p = Berthd.paths(dir);
    const toml = `version = 2
root = "/nonexistent/should-be-overridden"
disabled_plugins = ["io.containerd.grpc.v1.version"]
[grpc]
  address = "/nonexistent/also-overridden.sock"
[debug]
  level = "debug"
`;
    const d = await start({ dir, configToml: toml });
    assert.ok(existsSync(join(p.root, 'io.containerd.metadata.v1.sqlite', 'meta.db')));
    assert.match(d.output, /"level":20/, 'debug lines are logged');
    const rows = table(ctrOk(d.socket, ['plugins', 'ls']));
    const version = rows.find((r) => r[0] === 'io.containerd.grpc.v1' && r[1] === 'version');
    assert.deepEqual(version?.slice(2), ['-', 'skip']);
    const v = ctr(d.socket, ['version']);
    assert.notEqual(v.code, 0);
    await d.stop();

    const bad = spawnSync(BERTHD, ['--config', join(dir.path, 'missing.toml')], {
      encoding: 'utf8',
    });
    assert.equal(bad.status, 1);
    assert.match(bad.stderr, /config ".*missing\.toml"/);
    const badLevel = spawnSync(
      BERTHD,
      ['--log-level', 'loud', '--config', join(dir.path, 'config.toml')],
      {
        encoding: 'utf8',
      },
    );
    assert.equal(badLevel.status, 1);
    assert.match(badLevel.stderr, /log level "loud"/);
  });
});

describe(`stopping with long-lived calls open (${daemonKind()})`, {
  skip: !root && 'needs root',
}, () => {
  let d: TestDaemon | undefined;
  after(async () => {
    if (d !== undefined && !d.running) await d.restart();
    await d?.cleanup();
  });

  it('ends event subscriptions and task waits at once on SIGTERM, not after the grace', async () => {
    const started = await startDaemonWithImage();
    const daemon = started.d;
    d = daemon;
    const id = uniqueId('stop-with-wait');
    await ctrOkAsync(d.socket, ['run', '-d', '--null-io', started.image, id, 'sleep', '1000']);
    const events = ctrSpawn(d.socket, ['events']);
    // ctr 1.6 has no `tasks wait`: Tasks.Wait as containerd's client calls it.
    const tasks = new TasksClient(`unix:${d.socket}`, credentials.createInsecure());
    const waitMd = new Metadata();
    waitMd.set('containerd-namespace', 'default');
    let waitEnded: ServiceError | null | undefined;
    const waitDone = new Promise<ServiceError | null>((resolve) => {
      tasks.wait({ containerId: id, execId: '' }, waitMd, (err) => {
        waitEnded = err;
        resolve(err);
      });
    });
    // The subscription is in place once it reports an event. `ctr events`
    // subscribes some time after it starts, so namespaces are made (and
    // removed) until one is reported. Tasks.Wait answers nothing before the
    // exit, so it gets a moment to arrive.
    const ns = uniqueId('stop-ns');
    let made = 0;
    await waitFor('ctr events to report a namespace event', async () => {
      const name = `${ns}-${made++}`;
      await ctrOkAsync(daemon.socket, ['namespaces', 'create', name]);
      await ctrOkAsync(daemon.socket, ['namespaces', 'rm', name]);
      await new Promise((r) => setTimeout(r, 200));
      return events.stdout.includes(ns);
    });
    await new Promise((r) => setTimeout(r, 1000));
    assert.equal(waitEnded, undefined, `Tasks.Wait ended early: ${waitEnded?.message}`);

    const t0 = performance.now();
    await d.stop();
    const stopMs = performance.now() - t0;
    // Both daemons give in-flight state-changing calls 10 s; these two calls
    // must not be waited for.
    assert.ok(stopMs < 5000, `the daemon took ${Math.round(stopMs)} ms to stop`);
    assert.notEqual(await events.exited, 0, 'ctr events ends with an error');
    const waitErr = await waitDone;
    tasks.close();
    assert.equal(waitErr?.code, status.UNAVAILABLE, `Tasks.Wait: ${waitErr?.message}`);
  });
});
