import assert from 'node:assert/strict';
import {
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readlinkSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { Options } from '../../api/containerd/runc/options/oci.js';
import { isAlreadyExists, isInvalidArgument } from '../../core/errdefs/index.js';
import { optionsGroup } from '../../shim/group.js';
import { Bundle, removeHidden } from './bundle.js';
import { withRuncRoot } from './runc-options.js';

const dir = mkdtempSync(join(tmpdir(), 'berth-bundle-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const roots = { state: join(dir, 'state'), root: join(dir, 'root') };
const spec = Buffer.from('{"ociVersion":"1.0.2","process":{"args":["true"]}}');

describe('Bundle', () => {
  it('lays out config.json (byte for byte), rootfs/ and the work link', () => {
    const b = Bundle.create(roots, 'ns', 'c1', spec);
    assert.equal(b.path, join(roots.state, 'ns', 'c1'));
    assert.deepEqual(readFileSync(b.file('config.json')), spec);
    assert.ok(lstatSync(b.rootfs).isDirectory());
    assert.equal(readlinkSync(b.file('work')), join(roots.root, 'ns', 'c1'));
    assert.ok(lstatSync(join(roots.root, 'ns', 'c1')).isDirectory());
    assert.equal(lstatSync(b.path).mode & 0o777, 0o700);
  });

  it('refuses a second bundle for the same id and an invalid id, leaving nothing', () => {
    assert.throws(() => Bundle.create(roots, 'ns', 'c1', spec), isAlreadyExists);
    assert.throws(() => Bundle.create(roots, 'ns', '../x', spec), isInvalidArgument);
    assert.equal(existsSync(join(roots.state, 'x')), false);
  });

  it('a spec that is not JSON fails and removes what was made', () => {
    assert.throws(() => Bundle.create(roots, 'ns', 'bad', Buffer.from('{')), isInvalidArgument);
    assert.equal(existsSync(join(roots.state, 'ns', 'bad')), false);
    assert.equal(existsSync(join(roots.root, 'ns', 'bad')), false);
  });

  it('delete removes the bundle and its work dir, and is idempotent', () => {
    const b = Bundle.create(roots, 'ns', 'c2', spec);
    writeFileSync(join(b.workDir, 'state'), 'x');
    b.delete();
    assert.equal(existsSync(b.path), false);
    assert.equal(existsSync(b.workDir), false);
    assert.equal(existsSync(join(roots.state, 'ns', '.c2')), false);
    b.delete();
  });

  it('removeHidden clears what an interrupted delete left', () => {
    const left = join(roots.state, 'ns', '.c3');
    mkdirSync(join(left, 'rootfs'), { recursive: true });
    removeHidden(join(roots.state, 'ns'), roots.state, ['.c3', 'c1']);
    assert.equal(existsSync(left), false);
    assert.ok(existsSync(join(roots.state, 'ns', 'c1')));
  });
});

describe('withRuncRoot', () => {
  it('gives runc shims a root when their options name none', () => {
    const made = withRuncRoot('io.containerd.runc.v2', undefined, '/run/berth/runc');
    assert.equal(made?.typeUrl, 'containerd.runc.v1.Options');
    assert.equal(Options.decode(made?.value ?? new Uint8Array()).root, '/run/berth/runc');
    const given = {
      typeUrl: 'containerd.runc.v1.Options',
      value: Options.encode(Options.fromPartial({ binaryName: 'crun' })).finish(),
    };
    const filled = Options.decode(
      withRuncRoot('io.containerd.runc.v2', given, '/r')?.value ?? new Uint8Array(),
    );
    assert.equal(filled.root, '/r');
    assert.equal(filled.binaryName, 'crun');
  });

  it('leaves a chosen root, other runtimes and other option types alone', () => {
    const own = {
      typeUrl: 'containerd.runc.v1.Options',
      value: Options.encode(Options.fromPartial({ root: '/mine' })).finish(),
    };
    assert.equal(withRuncRoot('io.containerd.runc.v2', own, '/r'), own);
    assert.equal(withRuncRoot('io.containerd.kata.v2', undefined, '/r'), undefined);
    const other = { typeUrl: 'x.Other', value: new Uint8Array([1]) };
    assert.equal(withRuncRoot('io.containerd.runc.v2', other, '/r'), other);
  });

  it("gives berth's shim the root too, keeping the superset's group (field 100), under any *.Options type", () => {
    const made = withRuncRoot('io.containerd.berth.v1', undefined, '/run/berth/runc');
    assert.equal(Options.decode(made?.value ?? new Uint8Array()).root, '/run/berth/runc');
    const superset = {
      typeUrl: 'berth.shim.v1.Options',
      value: Options.encode(Options.fromPartial({ binaryName: 'crun' }))
        .uint32((100 << 3) | 2)
        .string('web')
        .finish(),
    };
    const filled = withRuncRoot('io.containerd.berth.v1', superset, '/r');
    assert.equal(filled?.typeUrl, 'berth.shim.v1.Options');
    const value = filled?.value ?? new Uint8Array();
    assert.equal(Options.decode(value).root, '/r');
    assert.equal(Options.decode(value).binaryName, 'crun');
    assert.equal(optionsGroup(value), 'web');
    const garbage = { typeUrl: 'x.Options', value: new Uint8Array([0xff]) };
    const other = { typeUrl: 'x.Other', value: new Uint8Array([1]) };
    assert.equal(withRuncRoot('io.containerd.berth.v1', other, '/r'), other);
    assert.equal(withRuncRoot('io.containerd.berth.v1', garbage, '/r'), garbage);
  });
});
