import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { writeMirrors } from '../../../test/helpers/cri.js';
import { type CriImageServer, serveCriImages } from '../../../test/helpers/cri-image-server.js';
import { ctxOf, type TestStores } from '../../../test/helpers/image-stores.js';
import { buildAndPush, busyboxImage, DEFAULT_PATH } from '../../../test/helpers/images.js';
import { Registry } from '../../../test/helpers/registry.js';
import { type TempDir, tempDir } from '../../../test/helpers/tmp.js';
import { CRI_NAMESPACE } from './index.js';

/**
 * The real crictl (cri-tools 1.26.1) against the ImageService and the
 * runtime status calls served by berth's gRPC server: pull with --creds and
 * --auth through a hosts.toml mirror, images, inspecti, imagefsinfo, rmi,
 * version and info.
 */

const CRICTL = '/var/tmp/cri-tools-1.26.1/bin/crictl';
const isRoot = process.getuid?.() === 0;
const run = promisify(execFile);
const ctx = ctxOf(CRI_NAMESPACE);
const REF = 'registry.berth.test/e2e/busybox:1.0';

const skip = !isRoot
  ? 'needs root to mount overlayfs'
  : !existsSync(CRICTL)
    ? `${CRICTL} is not built (../shared/tools/cri-tools/build.sh)`
    : false;

describe("crictl against berth's ImageService (root)", { skip }, () => {
  let dir: TempDir;
  let reg: Registry;
  let stores: TestStores;
  let cri: CriImageServer;
  let socket: string;
  let configId: string;

  const crictl = async (...args: string[]): Promise<string> => {
    const env = { ...process.env };
    for (const k of ['http_proxy', 'https_proxy', 'HTTP_PROXY', 'HTTPS_PROXY']) delete env[k];
    const { stdout } = await run(
      CRICTL,
      [
        '--config',
        join(dir.path, 'crictl.yaml'),
        '--runtime-endpoint',
        `unix://${socket}`,
        '--image-endpoint',
        `unix://${socket}`,
        '--timeout',
        '30s',
        ...args,
      ],
      { env, encoding: 'utf8' },
    );
    return stdout;
  };

  before(async () => {
    dir = tempDir('berth-crictl-');
    writeFileSync(join(dir.path, 'crictl.yaml'), '');
    const open = await Registry.start(dir);
    let storage: string;
    try {
      const img = await buildAndPush(
        dir,
        open,
        busyboxImage({ config: { cmd: ['sh'], env: [DEFAULT_PATH], user: 'www-data' } }),
        'e2e/busybox:1.0',
      );
      configId = img.config.digest;
      storage = open.storage;
    } finally {
      await open.stop();
    }
    reg = await Registry.start(dir, { storage, htpasswd: { bob: 'pw' } });
    const certs = join(dir.path, 'certs.d');
    writeMirrors(certs, ['registry.berth.test'], reg.url);
    cri = await serveCriImages({
      dir: dir.path,
      certsDir: certs,
      networkStatus: { ready: false, message: 'cni config uninitialized' },
    });
    socket = cri.socket;
    stores = cri.stores;
  });

  after(async () => {
    await cri?.close();
    await reg?.stop();
    dir?.remove();
  });

  it('answers version and info', async () => {
    const v = await crictl('version');
    assert.match(v, /RuntimeName:\s+berth/);
    assert.match(v, /RuntimeApiVersion:\s+v1/);
    const info = JSON.parse(await crictl('info'));
    const conds = Object.fromEntries(
      (info.status.conditions as { type: string; status: boolean }[]).map((c) => [
        c.type,
        c.status,
      ]),
    );
    assert.deepEqual(conds, { RuntimeReady: true, NetworkReady: false });
    // crictl shows each info value decoded.
    assert.equal(info.config.sandboxImage, 'registry.k8s.io/pause:3.6');
  });

  it('pulls with --creds and --auth, lists, inspects, measures and removes', async () => {
    await assert.rejects(crictl('pull', REF), (err: unknown) => {
      const stderr = (err as { stderr?: string }).stderr ?? '';
      assert.match(stderr, /Unauthenticated/, stderr);
      return true;
    });
    assert.match(
      await crictl('pull', '--creds', 'bob:pw', REF),
      new RegExp(`Image is up to date for ${configId}`),
    );
    const table = await crictl('images');
    assert.match(table, /registry\.berth\.test\/e2e\/busybox\s+1\.0\s+[0-9a-f]{13}/);
    const status = JSON.parse(await crictl('inspecti', '-o', 'json', REF));
    assert.equal(status.status.id, configId);
    assert.equal(status.status.username, 'www-data');
    assert.deepEqual(status.status.repoTags, [REF]);
    assert.equal(status.info.imageSpec.config.User, 'www-data');
    const fs = JSON.parse(await crictl('imagefsinfo', '-o', 'json'));
    assert.ok(Number(fs.status.usedBytes.value) > 0, JSON.stringify(fs));
    assert.match(await crictl('rmi', REF), /Deleted/);
    assert.doesNotMatch(await crictl('images', '-q'), new RegExp(configId));
    // --auth: base64 of user:password.
    await crictl('pull', '--auth', Buffer.from('bob:pw').toString('base64'), REF);
    assert.match(await crictl('images', '-q'), new RegExp(configId));
    await crictl('rmi', configId);
    assert.deepEqual(await stores.images.list(ctx), []);
  });
});
