import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isInvalidArgument } from '../errdefs/index.js';
import {
  familiarName,
  familiarString,
  normalizeReference,
  parseReference,
  registryHost,
} from './index.js';

const D = `sha256:${'a'.repeat(64)}`;

describe('normalizeReference', () => {
  const table: [string, string][] = [
    ['busybox', 'docker.io/library/busybox:latest'],
    ['busybox:1.36', 'docker.io/library/busybox:1.36'],
    ['library/busybox', 'docker.io/library/busybox:latest'],
    ['docker.io/busybox', 'docker.io/library/busybox:latest'],
    ['index.docker.io/busybox', 'docker.io/library/busybox:latest'],
    ['user/app', 'docker.io/user/app:latest'],
    ['user/app/sub:v2', 'docker.io/user/app/sub:v2'],
    ['localhost/x', 'localhost/x:latest'],
    ['localhost:5000/x', 'localhost:5000/x:latest'],
    ['127.0.0.1:5000/library/busybox', '127.0.0.1:5000/library/busybox:latest'],
    ['[::1]:5000/a/b', '[::1]:5000/a/b:latest'],
    ['ghcr.io/o/r:tag', 'ghcr.io/o/r:tag'],
    ['Registry/repo', 'Registry/repo:latest'],
    [`busybox@${D}`, `docker.io/library/busybox@${D}`],
    [`busybox:1@${D}`, `docker.io/library/busybox@${D}`],
    ['ab_c-d__e---f/g.h', 'docker.io/ab_c-d__e---f/g.h:latest'],
  ];
  for (const [input, want] of table) {
    it(`${input} → ${want}`, () => assert.equal(normalizeReference(input), want));
  }
});

describe('parseReference', () => {
  it('keeps tag and digest apart', () => {
    assert.deepEqual(parseReference(`localhost:5000/x:v1@${D}`), {
      domain: 'localhost:5000',
      path: 'x',
      tag: 'v1',
      digest: D,
    });
    assert.deepEqual(parseReference('busybox'), { domain: 'docker.io', path: 'library/busybox' });
  });

  const bad = [
    '',
    ' busybox',
    'Busybox',
    'busybox:',
    'busybox:-x',
    `busybox:${'t'.repeat(129)}`,
    'a//b',
    '/a',
    'a/',
    'a b',
    'busybox@sha256:abc',
    `busybox@sha256:${'A'.repeat(64)}`,
    'UPPER/Case',
    'host:port:5000/x',
    '-a/b',
    'a..b',
    'a-/b',
    `${'0123456789abcdef'.repeat(4)}`,
    `x.io/${'a'.repeat(260)}`,
  ];
  for (const s of bad) {
    it(`rejects ${JSON.stringify(s.length > 40 ? `${s.slice(0, 40)}…` : s)} naming it`, () => {
      assert.throws(
        () => parseReference(s),
        (err: Error) => isInvalidArgument(err) && err.message.includes(`"${s}"`),
      );
    });
  }
});

describe('familiar forms', () => {
  it('shortens Docker Hub names only', () => {
    assert.equal(familiarName('docker.io/library/busybox:latest'), 'busybox');
    assert.equal(familiarName('docker.io/user/app:v1'), 'user/app');
    assert.equal(familiarName('docker.io/library/a/b'), 'library/a/b');
    assert.equal(familiarName('localhost:5000/x:v1'), 'localhost:5000/x');
    assert.equal(familiarString('docker.io/library/busybox:latest'), 'busybox:latest');
    assert.equal(familiarString(`docker.io/user/app@${D}`), `user/app@${D}`);
  });

  it('serves docker.io from registry-1.docker.io', () => {
    assert.equal(registryHost('docker.io'), 'registry-1.docker.io');
    assert.equal(registryHost('ghcr.io'), 'ghcr.io');
  });
});
