import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { credentialsFn, platformOf } from './image-ops.js';

describe('client image options', () => {
  it('gives static credentials to the reference’s registry only', async () => {
    const creds = { username: 'u', secret: 's' };
    const local = credentialsFn('127.0.0.1:5000/a/b:1', creds);
    assert.deepEqual(await local('127.0.0.1:5000'), creds);
    assert.equal(await local('mirror.example.com'), undefined);
    const hub = credentialsFn('busybox', creds);
    assert.deepEqual(await hub('registry-1.docker.io'), creds);
    assert.deepEqual(await hub('docker.io'), creds);
    assert.equal(await hub('127.0.0.1:5000'), undefined);
    const fn = async (host: string) => (host === 'x' ? creds : undefined);
    assert.equal(credentialsFn('busybox', fn), fn);
  });

  it('normalizes platforms, defaulting to the host’s', () => {
    assert.equal(platformOf('linux/aarch64/v8'), 'linux/arm64');
    assert.equal(platformOf('linux/amd64'), 'linux/amd64');
    assert.match(platformOf(undefined), /^linux\//);
  });
});
