import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  familiar,
  idMatches,
  isDangling,
  isIdPrefix,
  matchesReference,
  normalizeOrUndefined,
  repoTag,
  shortId,
} from './names.js';

const ID = `sha256:${'ab12'.repeat(16)}`;

describe('repoTag', () => {
  it("splits a record name into docker's REPOSITORY and TAG", () => {
    assert.deepEqual(repoTag('docker.io/library/busybox:latest'), {
      repository: 'busybox',
      tag: 'latest',
    });
    assert.deepEqual(repoTag('docker.io/user/app:1.0'), { repository: 'user/app', tag: '1.0' });
    assert.deepEqual(repoTag('127.0.0.1:5000/x/y:v1'), {
      repository: '127.0.0.1:5000/x/y',
      tag: 'v1',
    });
    assert.deepEqual(repoTag(`docker.io/library/busybox@${ID}`), {
      repository: 'busybox',
      tag: '<none>',
      digest: ID,
    });
  });

  it('shows a name that is not a reference whole, without a tag', () => {
    assert.deepEqual(repoTag('import-2024-01-01@index'), {
      repository: 'import-2024-01-01@index',
      tag: '<none>',
    });
  });
});

describe('isDangling', () => {
  it('is true for names without a tag: by digest only, or not references', () => {
    assert.equal(isDangling(`docker.io/library/busybox@${ID}`), true);
    assert.equal(isDangling('not a reference'), true);
    assert.equal(isDangling('docker.io/library/busybox:latest'), false);
    assert.equal(isDangling(`docker.io/library/busybox:1@${ID}`), false);
  });
});

describe('familiar and normalizeOrUndefined', () => {
  it('round-trips docker short names', () => {
    assert.equal(normalizeOrUndefined('busybox'), 'docker.io/library/busybox:latest');
    assert.equal(normalizeOrUndefined('bad::ref'), undefined);
    assert.equal(familiar('docker.io/library/busybox:latest'), 'busybox:latest');
    assert.equal(familiar(`docker.io/library/busybox@${ID}`), `busybox@${ID}`);
    assert.equal(familiar('weird name'), 'weird name');
  });
});

describe('image IDs', () => {
  it('shortens to 12 hex and matches prefixes with or without sha256:', () => {
    assert.equal(shortId(ID), 'ab12ab12ab12');
    assert.equal(isIdPrefix('ab12'), true);
    assert.equal(isIdPrefix('sha256:ab12'), true);
    assert.equal(isIdPrefix('busybox'), false);
    assert.equal(idMatches(ID, 'ab12ab'), true);
    assert.equal(idMatches(ID, 'sha256:ab12'), true);
    assert.equal(idMatches(ID, 'ab13'), false);
  });
});

describe('matchesReference', () => {
  it("matches docker's reference= patterns", () => {
    const n = 'docker.io/library/busybox:latest';
    assert.equal(matchesReference(n, 'busybox'), true);
    assert.equal(matchesReference(n, 'busybox:latest'), true);
    assert.equal(matchesReference(n, 'busybox:*'), true);
    assert.equal(matchesReference(n, 'busy*'), true);
    assert.equal(matchesReference(n, 'busybox:1'), false);
    assert.equal(matchesReference(n, 'alpine'), false);
    const local = '127.0.0.1:5000/team/app:v1';
    assert.equal(matchesReference(local, '127.0.0.1:5000/*/app'), true);
    assert.equal(matchesReference(local, '127.0.0.1:5000/*'), false);
    assert.equal(matchesReference(local, '127.0.0.1:5000/**'), true);
  });
});
