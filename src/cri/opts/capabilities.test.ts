import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Capability } from '../../api/k8s/cri/runtime/v1/api.js';
import {
  applyCapabilities,
  capName,
  effectiveCapabilities,
  KNOWN_CAPABILITIES,
} from './capabilities.js';
import { criBaseSpec, defaultUnixCaps } from './defaults.js';

const DAEMON = ['CAP_CHOWN', 'CAP_SYS_ADMIN', 'CAP_NET_ADMIN'];

function capsAfter(add: string[], drop: string[]) {
  const spec = criBaseSpec('c');
  applyCapabilities(
    spec,
    Capability.fromPartial({ addCapabilities: add, dropCapabilities: drop }),
    DAEMON,
  );
  const c = spec.process.capabilities;
  assert.deepEqual(c?.effective, c?.bounding);
  assert.deepEqual(c?.permitted, c?.bounding);
  return c?.bounding;
}

describe('capabilities (containerd customopts.WithCapabilities)', () => {
  test('no capability message leaves the defaults', () => {
    const spec = criBaseSpec('c');
    applyCapabilities(spec, undefined, DAEMON);
    assert.deepEqual(spec.process.capabilities?.bounding, defaultUnixCaps());
  });
  test('add appends once, with or without CAP_, any case', () => {
    assert.deepEqual(capsAfter(['sys_admin', 'CAP_NET_ADMIN', 'chown'], []), [
      ...defaultUnixCaps(),
      'CAP_SYS_ADMIN',
      'CAP_NET_ADMIN',
    ]);
  });
  test('drop removes from all three sets', () => {
    const caps = capsAfter([], ['CHOWN', 'cap_kill']);
    assert.ok(!caps?.includes('CAP_CHOWN'));
    assert.ok(!caps?.includes('CAP_KILL'));
    assert.equal(caps?.length, defaultUnixCaps().length - 2);
  });
  test('add ALL grants the daemon capabilities', () => {
    assert.deepEqual(capsAfter(['ALL'], []), DAEMON);
  });
  test('add ALL then drop one', () => {
    assert.deepEqual(capsAfter(['all'], ['CHOWN']), ['CAP_SYS_ADMIN', 'CAP_NET_ADMIN']);
  });
  test('drop ALL then add one', () => {
    assert.deepEqual(capsAfter(['NET_RAW'], ['ALL']), ['CAP_NET_RAW']);
  });
  test('drop ALL alone leaves none', () => {
    assert.deepEqual(capsAfter([], ['ALL']), []);
  });
  test('add ALL and drop ALL: drop wins, then adds apply', () => {
    assert.deepEqual(capsAfter(['ALL', 'KILL'], ['ALL']), ['CAP_KILL']);
  });
  test('capName', () => {
    assert.equal(capName('sys_time'), 'CAP_SYS_TIME');
    assert.equal(capName('CAP_SYS_TIME'), 'CAP_SYS_TIME');
  });
});

describe('effectiveCapabilities (containerd cap.Current)', () => {
  test('root with every capability', () => {
    const caps = effectiveCapabilities('Name:\tx\nCapEff:\t000001ffffffffff\n');
    assert.deepEqual(caps, KNOWN_CAPABILITIES);
    assert.equal(caps.length, 41);
  });
  test('root without CAP_SYS_RESOURCE (this machine)', () => {
    const bits = ((1n << 41n) - 1n) & ~(1n << 24n);
    const caps = effectiveCapabilities(`CapEff:\t${bits.toString(16).padStart(16, '0')}\n`);
    assert.ok(!caps.includes('CAP_SYS_RESOURCE'));
    assert.equal(caps.length, 40);
  });
  test('a few bits', () => {
    assert.deepEqual(effectiveCapabilities('CapEff:\t0000000000200001\n'), [
      'CAP_CHOWN',
      'CAP_SYS_ADMIN',
    ]);
  });
  test('no CapEff line is an error', () => {
    assert.throws(() => effectiveCapabilities('Name: x\n'));
  });
});
