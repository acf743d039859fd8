import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { startDaemon, type TestDaemon, uniqueId } from '../helpers/daemon.js';
import { buildGoProgram } from '../helpers/go.js';
import { type BuiltImage, buildAndPush, busyboxImage, type Pushed } from '../helpers/images.js';
import { Registry } from '../helpers/registry.js';
import { type TempDir, tempDir } from '../helpers/tmp.js';

/**
 * A container's whole life through containerd's own Go client
 * (test/go/taskclient): pull with unpack from a local registry, a container
 * with a new snapshot and a generated spec, a task with captured stdio that
 * traps SIGTERM and exits 3, then task, container and image removal. The
 * program prints deterministic `key: value` lines; Debian's containerd (with
 * the stock containerd-shim-runc-v2 and runc) sets the reference and berthd
 * must print the same lines.
 */

const root = process.getuid?.() === 0;
const run = promisify(execFile);
const NAMESPACE = 'gotask';
const ID = uniqueId('taskclient');

type Lines = [key: string, value: string][];

function parse(stdout: string): Lines {
  return stdout
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => {
      const i = l.indexOf(': ');
      assert.ok(i > 0, `not a key: value line: ${JSON.stringify(l)}`);
      return [l.slice(0, i), l.slice(i + 2)];
    });
}

/** Runs the client; on failure the error carries its stderr and the lines it printed. */
async function runClient(bin: string, socket: string, ref: string): Promise<Lines> {
  try {
    const { stdout } = await run(bin, [socket, NAMESPACE, ref, ID], { timeout: 120_000, env: {} });
    return parse(stdout);
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; code?: number };
    throw new Error(
      `taskclient ${socket} failed (${e.code}):\n${e.stderr ?? ''}\nstdout:\n${e.stdout ?? ''}`,
    );
  }
}

describe("containerd's Go client runs a container", { skip: !root && 'needs root' }, () => {
  let dir: TempDir | undefined;
  let registry: Registry | undefined;
  let containerd: TestDaemon | undefined;
  let berthd: TestDaemon | undefined;
  let bin = '';
  let image: (BuiltImage & { pushed: Pushed }) | undefined;
  let fromContainerd: Lines | undefined;

  before(async () => {
    dir = tempDir();
    registry = await Registry.start(dir);
    [bin, image] = await Promise.all([
      buildGoProgram(dir, 'taskclient'),
      buildAndPush(dir, registry, busyboxImage(), 'berth/task:1'),
    ]);
    containerd = await startDaemon('containerd');
    berthd = await startDaemon('berthd');
  });

  // The daemons' cleanup also reaps what a failed run left: tasks, shims, mounts.
  after(async () => {
    await berthd?.cleanup();
    await containerd?.cleanup();
    await registry?.stop();
    dir?.remove();
  });

  /** What the client must print, whichever daemon it talks to. */
  function expected(): Lines {
    assert.ok(image);
    const ref = image.pushed.ref;
    const digest = image.pushed.digest;
    // image.Size: the manifest, the config and the layers (one platform).
    const size =
      image.manifest.size + image.config.size + image.layers.reduce((a, l) => a + l.size, 0);
    const script =
      "trap 'echo got TERM; exit 3' TERM; echo hello from stdout; echo hello from stderr >&2; " +
      'echo ready; while :; do sleep 0.1; done';
    return [
      ['connect', 'ok'],
      ['runtime', 'io.containerd.runc.v2'],
      ['pull.name', ref],
      ['pull.target.digest', digest],
      ['pull.target.media-type', image.manifest.mediaType],
      ['pull.unpacked', 'true'],
      ['images.count', '1'],
      ['images', `${ref} ${digest} ${size}`],
      ['container.load.missing', 'not-found'],
      ['container.id', ID],
      ['container.image', ref],
      ['container.runtime', 'io.containerd.runc.v2'],
      ['container.snapshotter', 'overlayfs'],
      ['container.snapshot-key', `${ID}-snapshot`],
      ['container.spec.args', `sh | -c | ${script}`],
      ['container.spec.env', 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'],
      ['container.spec.cwd', '/'],
      ['containers', ID],
      ['container.create.exists', 'already-exists'],
      ['task.load.before-create', 'not-found'],
      ['task.id', ID],
      ['task.status.created', 'created'],
      ['task.create.exists', 'already-exists'],
      ['container.delete.with-task', 'failed-precondition'],
      ['task.start', 'ok'],
      ['task.status.started', 'running'],
      ['task.ready', 'ok'],
      ['task.delete.running', 'failed-precondition'],
      ['task.kill', 'ok'],
      ['task.wait.exit-status', '3'],
      ['task.wait.exit-time.set', 'true'],
      ['task.status.exited', 'stopped'],
      ['task.status.exited.exit-status', '3'],
      ['task.status.exited.exit-time.set', 'true'],
      ['task.kill.exited', 'not-found'],
      ['task.delete.exit-status', '3'],
      ['stdout', 'hello from stdout'],
      ['stdout', 'ready'],
      ['stdout', 'got TERM'],
      ['stderr', 'hello from stderr'],
      ['task.load.after-delete', 'not-found'],
      ['container.delete', 'ok'],
      ['container.load.after-delete', 'not-found'],
      ['snapshot.after-delete', 'not-found'],
      ['images.after-cleanup.count', '1'],
      ['images.after-cleanup', `${ref} ${digest} ${size}`],
      ['image.delete', 'ok'],
      ['images.after-image-delete.count', '0'],
    ];
  }

  const show = (lines: Lines) => lines.map(([k, v]) => `${k}: ${v}`);

  it('against Debian containerd: pull, run, SIGTERM, exit 3, clean up', async () => {
    assert.ok(containerd && image);
    fromContainerd = await runClient(bin, containerd.socket, image.pushed.ref);
    assert.deepEqual(show(fromContainerd), show(expected()));
  });

  it('against berthd: the same lines as containerd', async () => {
    assert.ok(berthd && image);
    const fromBerthd = await runClient(bin, berthd.socket, image.pushed.ref);
    // + is berthd, - is the reference (containerd's lines when that half ran).
    assert.deepEqual(show(fromBerthd), show(fromContainerd ?? expected()));
  });
});
