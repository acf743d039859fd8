import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { MIRRORED_REGISTRIES, writeMirrors } from '../../../test/helpers/cri.js';
import { type CriImageServer, serveCriImages } from '../../../test/helpers/cri-image-server.js';
import { ctxOf, type TestStores } from '../../../test/helpers/image-stores.js';
import { Registry } from '../../../test/helpers/registry.js';
import { type TempDir, tempDir } from '../../../test/helpers/tmp.js';
import { CRI_NAMESPACE } from './index.js';

/**
 * critest's own "Image Manager" and "Runtime info" specs against the
 * ImageService and the runtime status calls alone, served by berth's gRPC
 * server, with critest's images from the registry storage the CRI harness
 * prepares (make-images.sh), mirrored for registry.k8s.io and gcr.io
 * through hosts.toml as containerd's README configuration does.
 */

const CRITEST = '/var/tmp/cri-tools-1.26.1/bin/critest';
const STORAGE = `${process.env.BERTH_CRI_IMAGES ?? '/var/tmp/berth-cri-images'}/registry`;
const isRoot = process.getuid?.() === 0;
const skip = !isRoot
  ? 'needs root to mount overlayfs'
  : !existsSync(CRITEST)
    ? `${CRITEST} is not built (../shared/tools/cri-tools/build.sh)`
    : !existsSync(join(STORAGE, 'stamp'))
      ? `critest's images are not in ${STORAGE} (the CRI harness prepares them with make-images.sh)`
      : false;

describe("critest's image and runtime info specs (root)", { skip }, () => {
  let dir: TempDir;
  let reg: Registry;
  let stores: TestStores;
  let cri: CriImageServer;
  let socket: string;

  before(async () => {
    dir = tempDir('berth-critest-images-');
    mkdirSync(join(dir.path, 'registry'));
    // Only read: the harness replaces the storage as a whole when it rebuilds.
    reg = await Registry.start(dir, { storage: STORAGE });
    const certs = join(dir.path, 'certs.d');
    writeMirrors(certs, MIRRORED_REGISTRIES, reg.url);
    cri = await serveCriImages({
      dir: dir.path,
      certsDir: certs,
      networkStatus: { ready: true, message: '' },
    });
    socket = cri.socket;
    stores = cri.stores;
  });

  after(async () => {
    await cri?.close();
    await reg?.stop();
    dir?.remove();
  });

  it('passes every spec of the two groups but the upstream digest', async () => {
    const env: NodeJS.ProcessEnv = { ...process.env, TMPDIR: join(dir.path, 'tmp') };
    for (const k of ['http_proxy', 'https_proxy', 'HTTP_PROXY', 'HTTPS_PROXY']) delete env[k];
    mkdirSync(join(dir.path, 'tmp'));
    const p = spawn(
      CRITEST,
      [
        '-runtime-endpoint',
        `unix://${socket}`,
        '-image-endpoint',
        `unix://${socket}`,
        '--ginkgo.no-color',
        '--ginkgo.focus',
        'Image Manager|Runtime info',
        '--ginkgo.skip',
        'public image with digest',
      ],
      { env, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    p.stdout?.on('data', (b: Buffer) => {
      out += b.toString();
    });
    p.stderr?.on('data', (b: Buffer) => {
      out += b.toString();
    });
    const code = await new Promise<number | null>((resolve) => p.once('exit', resolve));
    assert.equal(code, 0, out);
    // Image Manager: 7 specs less the digest one; Runtime info: 2.
    assert.match(out, /Ran 8 of \d+ Specs/, out);
    assert.match(out, /SUCCESS! -- 8 Passed \| 0 Failed/, out);
    assert.deepEqual(
      await stores.images.list(ctxOf(CRI_NAMESPACE)),
      [],
      'critest removes what it pulls',
    );
  });
});
