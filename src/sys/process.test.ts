import assert from 'node:assert/strict';
import { closeSync, readdirSync, readFileSync, readSync, writeSync } from 'node:fs';
import { getPriority } from 'node:os';
import { describe, it } from 'node:test';
import { isErrno, posixSpawn } from './linux.js';
import {
  childPids,
  dup,
  isCloexec,
  niceOf,
  pipe,
  setCloexec,
  setProcessNice,
  waitPid,
} from './process.js';

function spawnSh(script: string): number {
  return posixSpawn('/bin/sh', ['sh', '-c', script], {
    env: ['PATH=/usr/bin:/bin'],
    cwd: '/',
    stdio: [0, 1, 2],
    setsid: false,
  });
}

async function reap(pid: number) {
  for (;;) {
    const st = waitPid(pid);
    if (st) return st;
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe('process', () => {
  it('pipe: close-on-exec ends that carry bytes; dup is close-on-exec too', () => {
    const [r, w] = pipe();
    try {
      assert.equal(isCloexec(r), true);
      assert.equal(isCloexec(w), true);
      const w2 = dup(w);
      assert.notEqual(w2, w);
      assert.equal(isCloexec(w2), true);
      setCloexec(w2, false);
      assert.equal(isCloexec(w2), false);
      setCloexec(w2, true);
      assert.equal(isCloexec(w2), true);
      writeSync(w2, 'via dup');
      closeSync(w2);
      const buf = Buffer.alloc(16);
      const n = readSync(r, buf);
      assert.equal(buf.toString('utf8', 0, n), 'via dup');
    } finally {
      closeSync(r);
      closeSync(w);
    }
  });

  it('waitPid: running is undefined, an exit code, 128+signal for a kill, then ECHILD', async () => {
    const pid = spawnSh('exit 7');
    assert.deepEqual(await reap(pid), { pid, status: 7 });
    assert.throws(
      () => waitPid(pid),
      (err) => isErrno(err, 'ECHILD'),
    );

    const sleeper = spawnSh('exec sleep 30');
    assert.equal(waitPid(sleeper), undefined);
    process.kill(sleeper, 'SIGKILL');
    assert.deepEqual(await reap(sleeper), { pid: sleeper, status: 137, signal: 9 });
  });

  it('childPids lists running children and zombies, not reaped ones', async () => {
    const pid = spawnSh('exit 0');
    // A zombie until reaped: still listed.
    for (let i = 0; i < 200 && !zombie(pid); i++) await new Promise((r) => setTimeout(r, 5));
    assert.ok(zombie(pid), 'child became a zombie');
    assert.ok(childPids().includes(pid));
    await reap(pid);
    assert.ok(!childPids().includes(pid));
  });

  it('setProcessNice gives every thread of a process the value; niceOf reads it back', async () => {
    // node has several threads (V8's platform workers) from its start.
    const pid = spawnSh(`exec ${process.execPath} -e "setTimeout(() => {}, 20000)"`);
    try {
      for (let i = 0; i < 200 && readdirSync(`/proc/${pid}/task`).length < 2; i++) {
        await new Promise((r) => setTimeout(r, 10));
      }
      assert.ok(readdirSync(`/proc/${pid}/task`).length > 1, 'a process with threads');
      const target = Math.min(getPriority() + 3, 19);
      setProcessNice(pid, target);
      for (const tid of readdirSync(`/proc/${pid}/task`).map(Number)) {
        assert.equal(niceOf(tid), target, `thread ${tid}`);
      }
    } finally {
      process.kill(pid, 'SIGKILL');
      await reap(pid);
    }
    assert.throws(() => setProcessNice(pid, 5), /ENOENT|ESRCH/);
  });
});

function zombie(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
  } catch {
    return false;
  }
}
