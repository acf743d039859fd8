import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BinaryWriter } from '@bufbuild/protobuf/wire';
import { Options } from '../api/containerd/runc/options/oci.js';
import { DEFAULT_RUNC_ROOT, decodeOptions, optionsJson, parseOptionsJson } from './options.js';

describe('runtime options', () => {
  it('defaults without options or for another type', () => {
    assert.equal(decodeOptions(undefined).root, DEFAULT_RUNC_ROOT);
    assert.equal(decodeOptions(undefined).binaryName, 'runc');
    const other = {
      typeUrl: 'x.Other',
      value: Options.encode({ ...Options.fromPartial({}), root: '/r' }).finish(),
    };
    assert.equal(decodeOptions(other).root, DEFAULT_RUNC_ROOT);
  });

  it("decodes runc's Options", () => {
    const value = Options.encode(
      Options.fromPartial({ root: '/run/berth/runc', systemdCgroup: true, noPivotRoot: true }),
    ).finish();
    const o = decodeOptions({ typeUrl: 'containerd.runc.v1.Options', value });
    assert.equal(o.root, '/run/berth/runc');
    assert.equal(o.systemdCgroup, true);
    assert.equal(o.noPivotRoot, true);
    assert.equal(o.group, '');
  });

  it("decodes berth's superset: group = 100", () => {
    const w = new BinaryWriter();
    Options.encode(Options.fromPartial({ binaryName: 'crun' }), w);
    w.uint32((100 << 3) | 2).string('container');
    const o = decodeOptions({ typeUrl: 'berth.v1.Options', value: w.finish() });
    assert.equal(o.binaryName, 'crun');
    assert.equal(o.group, 'container');
  });

  it('options.json round trip in the Go shim names', () => {
    const o = decodeOptions({
      typeUrl: 'containerd.runc.v1.Options',
      value: Options.encode(Options.fromPartial({ root: '/r', binaryName: 'runc.x' })).finish(),
    });
    const text = optionsJson(o);
    assert.match(text, /"binary_name":"runc.x"/);
    const back = parseOptionsJson(text);
    assert.equal(back.root, '/r');
    assert.equal(back.binaryName, 'runc.x');
    assert.equal(parseOptionsJson('not json').root, DEFAULT_RUNC_ROOT);
  });
});
