import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseFlags } from './flags.js';

describe('shim flags', () => {
  it("parses containerd's start command line", () => {
    const f = parseFlags([
      '-namespace',
      'default',
      '-address',
      '/run/containerd/containerd.sock',
      '-publish-binary',
      '/usr/bin/containerd',
      '-id',
      'c1',
      '-debug',
      'start',
    ]);
    assert.equal(f.namespace, 'default');
    assert.equal(f.address, '/run/containerd/containerd.sock');
    assert.equal(f.publishBinary, '/usr/bin/containerd');
    assert.equal(f.id, 'c1');
    assert.equal(f.debug, true);
    assert.equal(f.action, 'start');
  });

  it('takes Go flag spellings, no action = serve', () => {
    const f = parseFlags(['--namespace=k8s.io', '-debug=false', '-socket', 'unix:///x']);
    assert.equal(f.namespace, 'k8s.io');
    assert.equal(f.debug, false);
    assert.equal(f.socket, 'unix:///x');
    assert.equal(f.action, '');
    assert.equal(parseFlags(['-v']).version, true);
  });

  it("takes berth's -spare (a spare daemon: no action, no namespace yet)", () => {
    const f = parseFlags(['-spare', '-address', '/run/berth/berth.sock', '-debug']);
    assert.equal(f.spare, true);
    assert.equal(f.namespace, '');
    assert.equal(f.action, '');
    assert.equal(parseFlags(['-namespace', 'x', '-socket', 'unix:///s']).spare, false);
  });

  it('refuses unknown flags and actions', () => {
    assert.throws(() => parseFlags(['-nope']), /not defined: -nope/);
    assert.throws(() => parseFlags(['-namespace', 'x', 'frob']), /unknown action/);
    assert.throws(() => parseFlags(['-id']), /needs an argument/);
  });
});
