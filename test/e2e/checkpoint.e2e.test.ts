import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ctrAsync, ctrOkAsync, taskList } from '../helpers/ctr.js';
import { daemonKind, startDaemonWithImage, type TestDaemon, uniqueId } from '../helpers/daemon.js';
import { runtimeLabel } from '../helpers/runtime.js';

const root = process.getuid?.() === 0;
const kind = daemonKind();

/** Whether CRIU can checkpoint on this kernel at all (`criu check`). */
function criuWorks(): boolean {
  const r = spawnSync('criu', ['check'], { stdio: 'ignore' });
  return r.status === 0;
}

/**
 * `ctr containers checkpoint --task`: where CRIU works, the checkpoint is an
 * image in the store whose index names the CRIU tar and the spec; where it
 * does not (this VM's kernel: CRIU cannot read the vDSO), a clear error, the
 * task still running, and nothing left in the tasks service's scratch dir.
 */
describe(`task checkpoint (${kind}${runtimeLabel()})`, { skip: !root && 'needs root' }, () => {
  let d: TestDaemon;
  let image: string;

  before(async () => {
    ({ d, image } = await startDaemonWithImage());
  });
  after(async () => {
    await d?.cleanup();
  });

  it('checkpoints a running task, or fails clearly and leaves it running', async () => {
    const id = uniqueId('ckpt');
    await ctrOkAsync(d.socket, ['run', '-d', image, id, 'sleep', '1000']);
    const ref = `berth.test/checkpoint/${id}:1`;
    const r = await ctrAsync(d.socket, ['containers', 'checkpoint', '--task', id, ref], {
      timeoutMs: 120_000,
    });
    if (criuWorks()) {
      assert.equal(r.code, 0, r.stderr);
      const index = JSON.parse(
        await ctrOkAsync(d.socket, ['content', 'get', await target(ref)]),
      ) as {
        manifests: { mediaType: string }[];
      };
      const types = index.manifests.map((m) => m.mediaType);
      assert.ok(
        types.includes('application/vnd.containerd.container.criu.checkpoint.criu.tar'),
        types.join(),
      );
      assert.ok(
        types.includes('application/vnd.containerd.container.checkpoint.config.v1+proto'),
        types.join(),
      );
    } else {
      assert.notEqual(r.code, 0, 'checkpoint cannot succeed without a working CRIU');
      assert.match(r.stderr, /criu/i, r.stderr);
      assert.equal(
        (await ctrAsync(d.socket, ['images', 'check', ref])).stdout.includes(ref),
        false,
      );
    }
    // ctr pauses the task around the checkpoint and resumes it.
    assert.equal((await taskList(d.socket)).find((t) => t.id === id)?.status, 'RUNNING');
    if (kind === 'berthd') {
      assert.deepEqual(
        readdirSync(join(d.state, 'io.containerd.grpc.v1.tasks')),
        [],
        'scratch left',
      );
    }
    await ctrOkAsync(d.socket, ['task', 'kill', '-s', 'SIGKILL', id]);
  });

  async function target(ref: string): Promise<string> {
    const out = await ctrOkAsync(d.socket, ['images', 'ls']);
    const line = out.split('\n').find((l) => l.startsWith(`${ref} `));
    assert.ok(line, out);
    const digest = line.split(/\s+/).find((f) => f.startsWith('sha256:'));
    assert.ok(digest, line);
    return digest;
  }
});
