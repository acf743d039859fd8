import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { hasKind } from '../core/errdefs/index.js';
import { nullLogger } from '../core/log/index.js';
import { type ProcessExit, Reaper } from './reaper.js';

/** Runs `sh -c script` through the reaper; answers its stdout and its own exit code (libuv's 'exit'). */
function run(
  reaper: Reaper,
  script: string,
): { child: ChildProcess; out: Promise<string>; code: Promise<number | null> } {
  const child = reaper.spawn('/bin/sh', ['-c', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  let text = '';
  child.stdout?.on('data', (b: Buffer) => {
    text += b.toString();
  });
  const code = new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
  const out = new Promise<string>((resolve) => child.stdout?.once('close', () => resolve(text)));
  return { child, out, code };
}

/** Starts an orphan: sh prints the pid of a background job and exits, the job is reparented to us. */
async function orphan(reaper: Reaper, job: string): Promise<number> {
  const r = run(reaper, `(${job}) >/dev/null 2>&1 & echo $!`);
  const [out, code] = await Promise.all([r.out, r.code]);
  assert.equal(code, 0, 'libuv saw its own child exit');
  return Number(out.trim());
}

describe('Reaper', () => {
  let reaper: Reaper;
  before(() => {
    reaper = Reaper.start(nullLogger);
  });
  after(() => reaper.close());

  it('is one per process', () => {
    assert.throws(
      () => Reaper.start(nullLogger),
      (err) => hasKind(err, 'invalid_argument'),
    );
  });

  it('reaps a reparented orphan with its exit code; libuv still gets its own children', async () => {
    const pid = await orphan(reaper, 'sleep 0.2; exit 7');
    const e = await reaper.wait(pid);
    assert.equal(e.pid, pid);
    assert.equal(e.status, 7);
    assert.ok(e.exitedAt instanceof Date);
  });

  it('reports a killed orphan as 128+signal', async () => {
    const pid = await orphan(reaper, 'exec sleep 30');
    const waiting = reaper.wait(pid);
    process.kill(pid, 'SIGKILL');
    assert.equal((await waiting).status, 137);
    const pid2 = await orphan(reaper, 'exec sleep 30');
    process.kill(pid2, 'SIGTERM');
    assert.equal((await reaper.wait(pid2)).status, 143);
  });

  it('keeps an exit nobody waited for, so a later wait resolves at once', async () => {
    const alive = setTimeout(() => {}, 60_000);
    const seen = new Promise<ProcessExit>((resolve) => {
      const off = reaper.onExit((e) => {
        off();
        resolve(e);
      });
    });
    const pid = await orphan(reaper, 'sleep 0.1; exit 3'); // outlives sh, which could reap it otherwise
    const e = await seen;
    clearTimeout(alive);
    assert.equal(e.pid, pid);
    assert.deepEqual(await reaper.wait(pid), e);
    // Taken: a second wait finds neither a kept exit nor a child.
    await assert.rejects(reaper.wait(pid), (err) => hasKind(err, 'not_found'));
  });

  it('subscribe keeps every exit seen while open; many exits at once are all reaped', async () => {
    const sub = reaper.subscribe();
    const n = 20;
    const all = new Promise<void>((resolve) => {
      const off = reaper.onExit(() => {
        if (sub.exits.length >= n) {
          off();
          resolve();
        }
      });
    });
    // Exits after sh's own (sh reaps no job then): all reparented zombies, close together.
    const r = run(reaper, `for i in $(seq 1 ${n}); do (sleep 0.3; exit $i) & done; echo started`);
    assert.equal(await r.code, 0);
    const alive = setTimeout(() => {}, 60_000); // onExit alone holds no handle
    await all;
    clearTimeout(alive);
    sub.close();
    assert.deepEqual(
      sub.exits.map((e) => e.status).sort((a, b) => a - b),
      Array.from({ length: n }, (_, i) => i + 1),
    );
    for (const e of sub.exits) assert.equal((await reaper.wait(e.pid)).status, e.status);
  });

  it('refuses to wait for a Node child or a process that is not its child', async () => {
    const r = run(reaper, 'sleep 0.2');
    const pid = r.child.pid;
    assert.ok(pid);
    await assert.rejects(reaper.wait(pid), (err) => hasKind(err, 'invalid_argument'));
    assert.equal(await r.code, 0);
    await assert.rejects(reaper.wait(1), (err) => hasKind(err, 'not_found'));
  });
});
