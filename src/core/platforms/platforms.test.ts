import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isInvalidArgument } from '../errdefs/index.js';
import {
  all,
  defaultSpec,
  format,
  matcherFor,
  normalize,
  only,
  onlyStrict,
  type Platform,
  parse,
} from './index.js';

const p = (s: string): Platform => {
  const [os = '', architecture = '', variant] = s.split('/');
  return variant ? { os, architecture, variant } : { os, architecture };
};

describe('platforms', () => {
  it('parses and normalizes as containerd does', () => {
    assert.deepEqual(parse('linux/amd64'), { os: 'linux', architecture: 'amd64' });
    assert.deepEqual(parse('linux/x86_64'), { os: 'linux', architecture: 'amd64' });
    assert.deepEqual(parse('linux/aarch64'), { os: 'linux', architecture: 'arm64' });
    assert.deepEqual(parse('linux/arm64/v8'), {
      os: 'linux',
      architecture: 'arm64',
      variant: 'v8',
    });
    assert.deepEqual(parse('linux/arm64'), { os: 'linux', architecture: 'arm64' });
    assert.deepEqual(parse('linux/arm'), { os: 'linux', architecture: 'arm' });
    assert.deepEqual(parse('linux/arm/7'), { os: 'linux', architecture: 'arm', variant: 'v7' });
    assert.deepEqual(parse('linux/armhf'), { os: 'linux', architecture: 'arm' });
    assert.deepEqual(parse('Linux/AMD64'), { os: 'linux', architecture: 'amd64' });
    assert.deepEqual(parse('arm64'), { os: 'linux', architecture: 'arm64' });
    assert.equal(parse('linux').architecture, defaultSpec().architecture);
    assert.deepEqual(normalize(p('linux/arm64/v8')), { os: 'linux', architecture: 'arm64' });
    assert.deepEqual(normalize(p('linux/arm')), {
      os: 'linux',
      architecture: 'arm',
      variant: 'v7',
    });
    assert.deepEqual(normalize(p('linux/amd64/v1')), { os: 'linux', architecture: 'amd64' });
    assert.equal(format(parse('linux/arm64/v8')), 'linux/arm64/v8');
    assert.equal(format({ os: '', architecture: 'amd64' }), 'unknown');
  });

  it('refuses bad specifiers with invalid_argument', () => {
    for (const s of ['linux/*', 'linux/amd64/v2/x', 'lin ux', '', 'nosuch']) {
      assert.throws(() => parse(s), isInvalidArgument, s);
    }
  });

  it('maps the host from process.arch', () => {
    const host = defaultSpec();
    assert.equal(host.os, 'linux');
    const want = { x64: 'amd64', arm64: 'arm64', ia32: '386' }[process.arch as string];
    if (want) assert.equal(host.architecture, want);
  });

  it('matches with containerd’s fallbacks and order', () => {
    const arm64 = only(parse('linux/arm64'));
    for (const s of [
      'linux/arm64',
      'linux/arm64/v8',
      'linux/arm/v8',
      'linux/arm/v7',
      'linux/arm/v5',
    ]) {
      assert.ok(arm64.match(p(s)), s);
    }
    assert.ok(!arm64.match(p('linux/amd64')));
    assert.ok(arm64.less(p('linux/arm64'), p('linux/arm/v7')));
    assert.ok(!arm64.less(p('linux/arm/v7'), p('linux/arm64')));
    const amd = only(parse('linux/amd64'));
    assert.ok(amd.match(p('linux/386')));
    assert.ok(!amd.match(p('linux/arm64')));
    assert.ok(amd.less(p('linux/amd64'), p('linux/386')));
    const v3 = only(parse('linux/amd64/v3'));
    assert.ok(v3.match(p('linux/amd64/v2')) && v3.match(p('linux/amd64')));
    const armv6 = only(parse('linux/arm/v6'));
    assert.ok(armv6.match(p('linux/arm/v5')) && !armv6.match(p('linux/arm/v7')));
    assert.ok(!onlyStrict(parse('linux/amd64')).match(p('linux/386')));
    assert.ok(all.match(p('windows/amd64')));
    const two = matcherFor(['linux/arm64', 'linux/amd64']);
    assert.ok(two.match(p('linux/amd64')) && two.match(p('linux/arm64')));
    assert.ok(matcherFor(undefined).match(defaultSpec()));
  });
});
