import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isFailedPrecondition, isInvalidArgument, isNotFound } from '../../core/errdefs/index.js';
import { parseAuth, pullCredentials } from './auth.js';
import {
  isDigest,
  lookupId,
  normalizePullRef,
  repoDigestAndTag,
  sortReferences,
  splitReferences,
  userFromImage,
} from './refs.js';

const D1 = `sha256:${'a'.repeat(64)}`;
const D2 = `sha256:${'ab'.repeat(32)}`;
const D3 = `sha256:${'b'.repeat(64)}`;

describe('CRI image names', () => {
  it('normalizes pull references as ParseDockerRef', () => {
    assert.equal(normalizePullRef('busybox'), 'docker.io/library/busybox:latest');
    assert.equal(
      normalizePullRef('registry.k8s.io/e2e-test-images/busybox:1.29-2'),
      'registry.k8s.io/e2e-test-images/busybox:1.29-2',
    );
    // Tag and digest: the digest alone.
    assert.equal(normalizePullRef(`gcr.io/x/y:t@${D1}`), `gcr.io/x/y@${D1}`);
    assert.throws(() => normalizePullRef('Busybox'), isInvalidArgument);
    assert.throws(() => normalizePullRef(''), isInvalidArgument);
  });

  it('records a tag and a repo digest for a tagged pull, the digest alone for a digest pull', () => {
    assert.deepEqual(repoDigestAndTag('gcr.io/x/y:1', D1), {
      repoTag: 'gcr.io/x/y:1',
      repoDigest: `gcr.io/x/y@${D1}`,
    });
    assert.deepEqual(repoDigestAndTag(`gcr.io/x/y@${D2}`, D2), {
      repoTag: '',
      repoDigest: `gcr.io/x/y@${D2}`,
    });
  });

  it('splits references into repo tags and repo digests, leaving IDs out', () => {
    assert.deepEqual(
      splitReferences([D1, 'gcr.io/x/y:1', `gcr.io/x/y@${D2}`, 'docker.io/library/busybox:latest']),
      {
        repoTags: ['gcr.io/x/y:1', 'docker.io/library/busybox:latest'],
        repoDigests: [`gcr.io/x/y@${D2}`],
      },
    );
  });

  it('sorts references most informative first', () => {
    assert.deepEqual(
      sortReferences([
        D1,
        `gcr.io/x/y@${D2}`,
        'gcr.io/x/z:2',
        'gcr.io/x/y:1',
        'not a ref',
        'gcr.io/x/y',
      ]),
      ['gcr.io/x/y:1', 'gcr.io/x/z:2', `gcr.io/x/y@${D2}`, 'gcr.io/x/y', D1, 'not a ref'],
    );
  });

  it("reads the uid or username of the config's User", () => {
    assert.deepEqual(userFromImage(undefined), { username: '' });
    assert.deepEqual(userFromImage(''), { username: '' });
    assert.deepEqual(userFromImage('1002'), { uid: 1002n, username: '' });
    assert.deepEqual(userFromImage('1003:1004'), { uid: 1003n, username: '' });
    assert.deepEqual(userFromImage('www-data'), { username: 'www-data' });
    assert.deepEqual(userFromImage('www-data:1004'), { username: 'www-data' });
    assert.deepEqual(userFromImage('0'), { uid: 0n, username: '' });
  });

  it('finds an ID by whole digest or hex prefix, refusing ambiguity', () => {
    const ids = [D1, D2, D3];
    assert.ok(isDigest(D1));
    assert.ok(!isDigest('sha256:abc'));
    assert.equal(lookupId(ids, D1), D1);
    assert.equal(lookupId(ids, 'a'.repeat(64)), D1);
    assert.equal(lookupId(ids, 'bbbb'), D3);
    assert.equal(lookupId(ids, 'sha256:abab'), D2);
    assert.equal(lookupId(ids, 'aaa'), D1);
    assert.throws(() => lookupId(ids, 'a'), isFailedPrecondition);
    assert.throws(() => lookupId(ids, 'c'), isNotFound);
    assert.throws(() => lookupId(ids, ''), isNotFound);
    assert.throws(() => lookupId(ids, 'busybox'), isNotFound);
  });
});

describe('CRI pull credentials', () => {
  it('reads username/password, identity token, base64 auth and registry token', () => {
    assert.deepEqual(parseAuth({ username: 'u', password: 'p' }, 'h'), {
      username: 'u',
      secret: 'p',
    });
    assert.deepEqual(parseAuth({ identityToken: 'tok' }, 'h'), { username: '', secret: 'tok' });
    assert.deepEqual(parseAuth({ auth: Buffer.from('user:pa:ss').toString('base64') }, 'h'), {
      username: 'user',
      secret: 'pa:ss',
    });
    assert.deepEqual(parseAuth({ registryToken: 'rt' }, 'h'), {
      username: '',
      secret: '',
      header: 'Bearer rt',
    });
    assert.equal(parseAuth({}, 'h'), undefined);
    assert.throws(
      () => parseAuth({ auth: Buffer.from('nocolon').toString('base64') }, 'h'),
      isInvalidArgument,
    );
  });

  it('gives credentials only to the server address when one is named', () => {
    const auth = { username: 'u', password: 'p', serverAddress: 'https://reg.example:5000/v1/' };
    assert.equal(parseAuth(auth, 'mirror:5000'), undefined);
    assert.deepEqual(parseAuth(auth, 'reg.example:5000'), { username: 'u', secret: 'p' });
    assert.deepEqual(
      parseAuth({ ...auth, serverAddress: 'reg.example:5000' }, 'reg.example:5000'),
      {
        username: 'u',
        secret: 'p',
      },
    );
  });

  it("falls back to the CRI config's credentials of the host asked", async () => {
    const configured = {
      'reg.example': { username: 'cu', password: 'cp', auth: '', identityToken: '' },
    };
    const fromConfig = pullCredentials(undefined, configured);
    assert.ok(fromConfig);
    assert.deepEqual(await fromConfig('reg.example'), { username: 'cu', secret: 'cp' });
    assert.equal(await fromConfig('other'), undefined);
    const empty = {
      username: '',
      password: '',
      auth: '',
      serverAddress: '',
      identityToken: '',
      registryToken: '',
    };
    // An empty AuthConfig is none: the configured ones apply.
    assert.deepEqual(await pullCredentials(empty, configured)?.('reg.example'), {
      username: 'cu',
      secret: 'cp',
    });
    const given = pullCredentials({ ...empty, username: 'ru', password: 'rp' }, configured);
    assert.deepEqual(await given?.('anything'), { username: 'ru', secret: 'rp' });
    assert.equal(pullCredentials(undefined, {}), undefined);
  });
});
