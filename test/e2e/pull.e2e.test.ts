import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Berthd } from '../helpers/berthd.js';
import { ctr, ctrOk, table } from '../helpers/ctr.js';
import {
  type BuiltImage,
  buildAndPush,
  busyboxImage,
  multiLayerImage,
  type Pushed,
} from '../helpers/images.js';
import { Registry } from '../helpers/registry.js';
import { type TempDir, tempDir } from '../helpers/tmp.js';

const root = process.getuid?.() === 0;
type Pushed$ = BuiltImage & { pushed: Pushed };

const mountsUnder = (dir: string) =>
  readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .filter((l) => l.split(' ')[4]?.startsWith(dir));

describe('pull, unpack and snapshots with the real ctr', { skip: !root && 'needs root' }, () => {
  let dir: TempDir;
  let reg: Registry;
  let d: Berthd;
  let busybox: Pushed$;
  let multi: Pushed$;
  const snapshotsDir = () => join(d.root, 'io.containerd.snapshotter.v1.overlayfs', 'snapshots');

  before(async () => {
    dir = tempDir();
    reg = await Registry.start(dir);
    busybox = await buildAndPush(dir, reg, busyboxImage(), 'berth/busybox:v1');
    multi = await buildAndPush(dir, reg, multiLayerImage(), 'berth/multi:v1');
    d = await Berthd.start();
  });
  after(async () => {
    await d?.cleanup();
    await reg?.stop();
    dir?.remove();
  });

  it('pulls a one-layer and a multi-layer image', () => {
    for (const img of [busybox, multi])
      ctrOk(d.socket, ['images', 'pull', '--plain-http', img.pushed.ref]);
    const names = table(ctrOk(d.socket, ['snapshots', 'ls'])).slice(1);
    // busybox shares its one layer with multi's first: 3 committed snapshots in all.
    assert.equal(names.length, 3, JSON.stringify(names));
    assert.ok(names.every((r) => r.at(-1) === 'Committed'));
    // KEY PARENT KIND: the chain root has no parent, so its row has two cells.
    assert.equal(names.filter((r) => r.length === 2).length, 1, 'one chain root');
  });

  it('ctr images mount shows whiteouts and opaque dirs applied; unmount cleans up', () => {
    const target = join(dir.path, 'mnt');
    mkdirSync(target);
    ctrOk(d.socket, ['images', 'mount', multi.pushed.ref, target]);
    try {
      assert.ok(existsSync(join(target, 'bin/busybox')));
      assert.ok(!existsSync(join(target, 'etc/berth/a.txt')), 'a.txt is whited out');
      assert.equal(readFileSync(join(target, 'etc/berth/b.txt'), 'utf8'), 'b\n');
      assert.deepEqual(readdirSync(join(target, 'data/dir')), ['new.txt']);
    } finally {
      ctrOk(d.socket, ['images', 'unmount', '--rm', target]);
    }
    assert.deepEqual(mountsUnder(target), []);
  });

  it('snapshot commands: prepare, view, commit, mounts, usage, tree, info, label, rm', () => {
    const rows = table(ctrOk(d.socket, ['snapshots', 'ls'])).slice(1);
    const top = rows.find((r) => !rows.some((o) => o[1] === r[0]))?.[0];
    assert.ok(top);
    ctrOk(d.socket, ['snapshots', 'prepare', 'work', top]);
    const mountLine = ctrOk(d.socket, ['snapshots', 'mounts', '/tmp/x', 'work']);
    assert.match(mountLine, /mount -t overlay/);

    // ctr snapshots diff: Diff.Compare turns what changed into a layer.
    const upper = /upperdir=([^,\s]+)/.exec(mountLine)?.[1] ?? '';
    assert.ok(upper.startsWith(d.root), mountLine);
    writeFileSync(join(upper, 'berth-diff.txt'), 'changed\n');
    const diff = spawnSync('ctr', ['--address', d.socket, 'snapshots', 'diff', 'work'], {
      maxBuffer: 64 << 20,
    });
    assert.equal(diff.status, 0, String(diff.stderr));
    const listing = spawnSync('tar', ['-tzv'], { input: diff.stdout, encoding: 'utf8' });
    assert.equal(listing.status, 0, listing.stderr);
    assert.match(listing.stdout, /berth-diff\.txt/);
    assert.equal(listing.stdout.trim().split('\n').length, 1, listing.stdout);
    // ctr's diff ran under a lease it deleted on exit, which schedules a
    // collection; a view from ctr carries no gc.root label, so that
    // collection would take it if it started after the view (as containerd's
    // would). A synchronous collection first lets the view outlive the test.
    ctrOk(d.socket, ['leases', 'create', '--id', 'berth-gc-barrier']);
    ctrOk(d.socket, ['leases', 'rm', '--sync', 'berth-gc-barrier']);
    ctrOk(d.socket, ['snapshots', 'view', 'look', top]);
    ctrOk(d.socket, ['snapshots', 'commit', 'done', 'work']);
    assert.match(ctrOk(d.socket, ['snapshots', 'usage', 'done']), /done/);
    assert.match(ctrOk(d.socket, ['snapshots', 'tree']), /done/);
    ctrOk(d.socket, ['snapshots', 'label', 'done', 'berth=yes']);
    assert.match(ctrOk(d.socket, ['snapshots', 'info', 'done']), /"berth": "yes"/);
    ctrOk(d.socket, ['snapshots', 'rm', 'look', 'done']);
    assert.ok(!table(ctrOk(d.socket, ['snapshots', 'ls'])).some((r) => r[0] === 'done'));
  });

  it('removing the images and collecting garbage removes the snapshots and leaves no mount', () => {
    ctrOk(d.socket, ['images', 'rm', '--sync', busybox.pushed.ref, multi.pushed.ref]);
    const left = table(ctr(d.socket, ['snapshots', 'ls']).stdout).slice(1);
    assert.deepEqual(left, []);
    assert.deepEqual(readdirSync(snapshotsDir()), []);
    assert.deepEqual(mountsUnder(d.root), []);
  });
});
