import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { REPO } from '../helpers/berthd.js';
import { ctrOkAsync, taskList } from '../helpers/ctr.js';
import { startDaemon, type TestDaemon } from '../helpers/daemon.js';
import { type TempDir, tempDir } from '../helpers/tmp.js';

const run = promisify(execFile);
const root = process.getuid?.() === 0;

/**
 * The README's main command ends in scripts/first-container.sh: a busybox
 * image built offline, imported, and a container `first` running. Run twice,
 * it changes nothing the second time; after its task is killed, it runs
 * the container again.
 */
describe('scripts/first-container.sh', { skip: !root && 'needs root' }, () => {
  let d: TestDaemon;
  let work: TempDir;
  const script = (args: string[]) =>
    run(join(REPO, 'scripts/first-container.sh'), args, { timeout: 120_000 });

  before(async () => {
    d = await startDaemon();
    work = tempDir();
  });
  after(async () => {
    await d?.cleanup();
    work?.remove();
  });

  it('builds the same image digest every time', async () => {
    const a = (
      await run(join(REPO, 'scripts/busybox-image.sh'), [join(work.path, 'a.tar')])
    ).stdout.trim();
    const b = (
      await run(join(REPO, 'scripts/busybox-image.sh'), [join(work.path, 'b.tar')])
    ).stdout.trim();
    assert.match(a, /^sha256:[0-9a-f]{64}$/);
    assert.equal(a, b);
  });

  it('imports the image and runs `first`; a second run leaves it alone', async () => {
    await script([d.socket]);
    const images = await ctrOkAsync(d.socket, ['images', 'ls', '-q']);
    assert.ok(images.split('\n').includes('localhost/berth/busybox:latest'), images);
    const first = (await taskList(d.socket)).find((t) => t.id === 'first');
    assert.equal(first?.status, 'RUNNING');

    const again = await script([d.socket]);
    assert.match(again.stderr, /already running/);
    const still = (await taskList(d.socket)).find((t) => t.id === 'first');
    assert.equal(still?.pid, first?.pid, 'the same process');
  });

  it('runs `first` again once its task has stopped', async () => {
    await ctrOkAsync(d.socket, ['tasks', 'kill', 'first']);
    const deadline = Date.now() + 10_000;
    while ((await taskList(d.socket)).find((t) => t.id === 'first')?.status !== 'STOPPED') {
      assert.ok(Date.now() < deadline, 'first did not stop on SIGTERM');
      await new Promise((r) => setTimeout(r, 100));
    }
    await script([d.socket]);
    assert.equal((await taskList(d.socket)).find((t) => t.id === 'first')?.status, 'RUNNING');
  });
});
