import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  generateSpec,
  specClientWithoutContent,
  withAdditionalGIDs,
  withDefaultPathEnv,
  withDefaultUnixDevices,
  withHostname,
  withProcessArgs,
  withRootFSPath,
  withUser,
} from '../../src/client/oci/index.js';
import { Berthd } from '../helpers/berthd.js';
import { Containerd } from '../helpers/containerd.js';
import { ctrOkAsync } from '../helpers/ctr.js';
import { uniqueId } from '../helpers/daemon.js';
import { BUSYBOX } from '../helpers/images.js';
import { type TempDir, tempDir } from '../helpers/tmp.js';

/**
 * A spec berth generates runs, on berthd and on containerd alike: the
 * default spec, the user and groups resolved from a root filesystem on this
 * host (its /etc/passwd a symlink that must stay inside the root), started
 * with `ctr run --config` and checked from inside with `id` and `hostname`.
 */

const root = process.getuid?.() === 0;
const NS = 'oci-run';

describe('generated specs run', { skip: !root && 'needs root' }, () => {
  let dir: TempDir;
  let rootfs: string;
  let berthd: Berthd;
  let containerd: Containerd;
  let ctrdDir: TempDir;

  before(async () => {
    dir = tempDir();
    rootfs = join(dir.path, 'rootfs');
    for (const d of ['bin', 'etc', 'data', 'proc', 'sys', 'dev', 'tmp']) {
      mkdirSync(join(rootfs, d), { recursive: true });
    }
    copyFileSync(BUSYBOX, join(rootfs, 'bin/busybox'));
    for (const applet of ['sh', 'id', 'hostname'])
      symlinkSync('busybox', join(rootfs, 'bin', applet));
    writeFileSync(
      join(rootfs, 'data/passwd'),
      'root:x:0:0:root:/root:/bin/sh\napp:x:1500:1500::/tmp:/bin/sh\n',
    );
    symlinkSync('/data/passwd', join(rootfs, 'etc/passwd'));
    writeFileSync(
      join(rootfs, 'etc/group'),
      'root:x:0:\napp:x:1500:app\nstaff:x:50:app\naudio:x:29:web,app\nother:x:7:web\n',
    );
    ctrdDir = tempDir();
    [berthd, containerd] = await Promise.all([Berthd.start(), Containerd.start(ctrdDir)]);
  });

  after(async () => {
    await berthd?.cleanup();
    await containerd?.stop();
    ctrdDir?.remove();
    dir?.remove();
  });

  for (const daemon of ['berthd', 'containerd'] as const) {
    it(`on ${daemon}: runs as the user and groups of the rootfs`, async () => {
      const socket = daemon === 'berthd' ? berthd.socket : containerd.socket;
      const id = uniqueId(`oci-run-${daemon}`);
      const spec = await generateSpec(
        specClientWithoutContent(NS),
        { id },
        withDefaultUnixDevices(),
        withRootFSPath(rootfs),
        withDefaultPathEnv(),
        // One write of both lines: containerd 1.6's `ctr run --rm` can lose a quick task's
        // later writes (its FIFO copy races the task's delete), seen under load.
        withProcessArgs('sh', '-c', 'printf "%s\\n%s\\n" "$(id)" "$(hostname)"'),
        withUser('app'),
        withAdditionalGIDs('app'),
        withHostname('berth-spec'),
      );
      assert.deepEqual(spec.process?.user, {
        uid: 1500,
        gid: 1500,
        additionalGids: [1500, 50, 29],
      });
      const file = join(dir.path, `${id}.json`);
      writeFileSync(file, JSON.stringify(spec));
      const out = await ctrOkAsync(socket, ['run', '--rm', '--config', file, id], {
        namespace: NS,
      });
      // the kernel keeps supplementary groups sorted
      assert.equal(
        out.replace(/\r/g, ''),
        'uid=1500(app) gid=1500(app) groups=29(audio),50(staff),1500(app)\nberth-spec\n',
      );
    });
  }
});
