import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { nullLogger } from '../core/log/index.js';
import { OomWatcher } from './oom.js';

const V1_MEMORY = '/sys/fs/cgroup/memory';
const skip =
  !existsSync(join(V1_MEMORY, 'cgroup.event_control')) && 'no cgroup v1 memory hierarchy';

async function exited(child: ReturnType<typeof spawn>): Promise<unknown> {
  return new Promise((resolve) => child.once('exit', (code, signal) => resolve(signal ?? code)));
}

describe('OomWatcher (cgroup v1)', { skip }, () => {
  it('reports an OOM kill in the watched cgroup, and not the cgroup removal', async () => {
    const dir = join(V1_MEMORY, `berth-test-${randomBytes(4).toString('hex')}`);
    mkdirSync(dir);
    const oom = OomWatcher.create(nullLogger);
    const seen: string[] = [];
    let onSeen: () => void = () => {};
    oom.onOom((id) => {
      seen.push(id);
      onSeen();
    });
    const holder = spawn('sleep', ['30'], { stdio: 'ignore' });
    try {
      writeFileSync(join(dir, 'memory.limit_in_bytes'), String(16 * 1024 * 1024));
      writeFileSync(join(dir, 'cgroup.procs'), String(holder.pid));
      oom.add('c1', holder.pid as number);
      const oomed = new Promise<void>((resolve) => {
        onSeen = resolve;
      });
      // A hog that joins the cgroup, then grows until the kernel kills it.
      const hog = spawn(
        'sh',
        ['-c', `echo $$ > ${dir}/cgroup.procs && x=0123456789abcdef; while :; do x=$x$x; done`],
        { stdio: 'ignore' },
      );
      assert.equal(await exited(hog), 'SIGKILL');
      await oomed;
      assert.deepEqual(seen, ['c1']);
      assert.match(readFileSync(join(dir, 'memory.oom_control'), 'utf8'), /oom_kill [1-9]/);
    } finally {
      holder.kill('SIGKILL');
      await exited(holder);
      // Removal signals the eventfd too: not an OOM.
      for (let i = 0; i < 100; i++) {
        try {
          rmdirSync(dir);
          break;
        } catch {
          await new Promise((r) => setTimeout(r, 20));
        }
      }
      await new Promise((r) => setTimeout(r, 1500));
      oom.close();
    }
    assert.deepEqual(seen, ['c1']);
    assert.equal(existsSync(dir), false);
  });
});
