import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { linkSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { BinaryWriter } from '@bufbuild/protobuf/wire';
import { Options } from '../api/containerd/runc/options/oci.js';
import {
  GROUP_ANNOTATION,
  groupAddress,
  groupOf,
  isShimAlive,
  optionsGroup,
  SANDBOX_ID_ANNOTATION,
  socketPathOf,
} from './group.js';

const dir = mkdtempSync(join(tmpdir(), 'berth-shim-group-'));
after(() => rmSync(dir, { recursive: true, force: true }));

describe('groupOf', () => {
  it('takes the group annotation first, then the sandbox id', () => {
    const both = { [GROUP_ANNOTATION]: 'g1', [SANDBOX_ID_ANNOTATION]: 'pod1' };
    assert.equal(groupOf(both, 'default', 'c1', 'container'), 'g1');
    assert.equal(
      groupOf({ [SANDBOX_ID_ANNOTATION]: 'pod1' }, 'default', 'c1', 'container'),
      'pod1',
    );
    assert.equal(groupOf({ [GROUP_ANNOTATION]: '' }, 'default', 'c1', 'container'), 'c1');
  });

  it('falls back to the default: namespace (also for empty), container, or a fixed name', () => {
    assert.equal(groupOf(undefined, 'ns1', 'c1'), 'ns1');
    assert.equal(groupOf({}, 'ns1', 'c1', ''), 'ns1');
    assert.equal(groupOf({}, 'ns1', 'c1', 'namespace'), 'ns1');
    assert.equal(groupOf({}, 'ns1', 'c1', 'container'), 'c1');
    assert.equal(groupOf({}, 'ns1', 'c1', 'web'), 'web');
  });
});

describe('groupAddress', () => {
  it('hashes <address>/<namespace>/berth-group/<group> into the stock shim directory', () => {
    const hex = createHash('sha256')
      .update('/run/berth/berth.sock/default/berth-group/default')
      .digest('hex');
    assert.equal(
      groupAddress('/run/berth/berth.sock', 'default', 'default'),
      `unix:///run/containerd/s/${hex}`,
    );
  });

  it('differs per daemon address, namespace and group', () => {
    const a = groupAddress('/run/berth/berth.sock', 'ns', 'g');
    assert.notEqual(a, groupAddress('/run/containerd/containerd.sock', 'ns', 'g'));
    assert.notEqual(a, groupAddress('/run/berth/berth.sock', 'ns2', 'g'));
    assert.notEqual(a, groupAddress('/run/berth/berth.sock', 'ns', 'g2'));
    assert.equal(a, groupAddress('/run/berth//berth.sock', 'ns', 'g'), 'cleaned as filepath.Join');
  });

  it('socketPathOf strips unix://', () => {
    assert.equal(socketPathOf('unix:///run/containerd/s/ab'), '/run/containerd/s/ab');
    assert.equal(socketPathOf('/run/x.sock'), '/run/x.sock');
  });
});

describe('isShimAlive', () => {
  it('is true while something listens, false once it stopped (socket file left)', async () => {
    const path = join(dir, 'live.sock');
    const server: Server = createServer((c) => c.destroy());
    await new Promise<void>((resolve) => server.listen(path, resolve));
    assert.equal(await isShimAlive(`unix://${path}`), true);
    // A stale socket file (ECONNREFUSED): a second name for the socket outlives node's unlink at close.
    const stale = join(dir, 'stale.sock');
    linkSync(path, stale);
    await new Promise<void>((resolve) => server.close(() => resolve()));
    assert.equal(await isShimAlive(`unix://${stale}`), false);
    assert.equal(await isShimAlive(`unix://${path}`), false);
  });

  it('is false without a socket file, or for a file that is no socket', async () => {
    assert.equal(await isShimAlive(`unix://${join(dir, 'missing.sock')}`), false);
    const plain = join(dir, 'plain');
    writeFileSync(plain, '');
    assert.equal(await isShimAlive(plain), false);
  });
});

describe('optionsGroup', () => {
  it('reads field 100 of the superset, after runc fields', () => {
    const w = Options.encode(Options.fromPartial({ root: '/r', binaryName: 'runc' }));
    w.uint32((100 << 3) | 2).string('web');
    assert.equal(optionsGroup(w.finish()), 'web');
  });

  it('is empty for runc Options, no options and garbage', () => {
    assert.equal(optionsGroup(Options.encode(Options.fromPartial({ root: '/r' })).finish()), '');
    assert.equal(optionsGroup(undefined), '');
    assert.equal(optionsGroup(new Uint8Array()), '');
    assert.equal(optionsGroup(new BinaryWriter().uint32((100 << 3) | 2).finish()), '');
  });
});
