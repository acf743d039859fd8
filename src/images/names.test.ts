import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isInvalidArgument } from '../core/errdefs/index.js';
import { familiarName, normalizeName, ociReferenceName, splitName } from './names.js';

describe('names', () => {
  it('normalizes familiar names as Docker’s ParseDockerRef', () => {
    assert.equal(normalizeName('busybox'), 'docker.io/library/busybox:latest');
    assert.equal(normalizeName('busybox:1.36'), 'docker.io/library/busybox:1.36');
    assert.equal(normalizeName('user/app'), 'docker.io/user/app:latest');
    assert.equal(normalizeName('index.docker.io/library/x:1'), 'docker.io/library/x:1');
    assert.equal(normalizeName('localhost/berth/busybox'), 'localhost/berth/busybox:latest');
    assert.equal(normalizeName('127.0.0.1:5000/a/b:c'), '127.0.0.1:5000/a/b:c');
    const d = `sha256:${'a'.repeat(64)}`;
    assert.equal(normalizeName(`quay.io/x/y@${d}`), `quay.io/x/y@${d}`);
    for (const bad of ['', 'a/UPPER', 'a:b:c:d', 'x@sha256:short']) {
      assert.throws(() => normalizeName(bad), isInvalidArgument, bad);
    }
  });

  it('familiarizes for Docker’s RepoTags', () => {
    assert.equal(familiarName('docker.io/library/busybox:latest'), 'busybox:latest');
    assert.equal(familiarName('docker.io/user/app'), 'user/app:latest');
    assert.equal(familiarName('127.0.0.1:5000/a/b:c'), '127.0.0.1:5000/a/b:c');
  });

  it('splits names and takes the OCI ref name (tag, digest) as containerd', () => {
    assert.deepEqual(splitName('127.0.0.1:5000/test/app:v1'), {
      host: '127.0.0.1:5000',
      hostname: '127.0.0.1',
      path: 'test/app',
      tag: 'v1',
    });
    assert.equal(ociReferenceName('docker.io/library/busybox:latest'), 'latest');
    const d = `sha256:${'b'.repeat(64)}`;
    assert.equal(ociReferenceName(`x.io/a/b@${d}`), `@${d}`);
    assert.equal(ociReferenceName(`x.io/a/b:t@${d}`), `t@${d}`);
  });
});
