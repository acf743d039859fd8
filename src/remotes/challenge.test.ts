import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseChallenges, pickChallenge } from './challenge.js';

describe('parseChallenges', () => {
  it('parses a Bearer challenge with realm, service and several scopes', () => {
    assert.deepEqual(
      parseChallenges(
        'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:a:pull repository:b:pull,push"',
      ),
      [
        {
          scheme: 'bearer',
          params: {
            realm: 'https://auth.docker.io/token',
            service: 'registry.docker.io',
            scope: 'repository:a:pull repository:b:pull,push',
          },
        },
      ],
    );
  });

  it('parses Basic, token values, escapes and case', () => {
    assert.deepEqual(parseChallenges('BASIC Realm=registry'), [
      { scheme: 'basic', params: { realm: 'registry' } },
    ]);
    assert.deepEqual(parseChallenges('Bearer realm="a\\"b", error=invalid_token'), [
      { scheme: 'bearer', params: { realm: 'a"b', error: 'invalid_token' } },
    ]);
  });

  it('parses several challenges in one header and across headers, preferring Bearer', () => {
    const cs = parseChallenges([
      'Basic realm="x", Bearer realm="https://t/token",service="s"',
      'Negotiate',
    ]);
    assert.deepEqual(
      cs.map((c) => c.scheme),
      ['basic', 'bearer', 'negotiate'],
    );
    assert.equal(pickChallenge(cs)?.scheme, 'bearer');
    assert.equal(pickChallenge(parseChallenges('Basic realm="x"'))?.scheme, 'basic');
    assert.equal(pickChallenge(parseChallenges('Digest realm="x"')), undefined);
  });

  it('keeps what parsed before garbage and ignores empty input', () => {
    assert.deepEqual(parseChallenges(undefined), []);
    assert.deepEqual(parseChallenges(''), []);
    assert.deepEqual(parseChallenges('Bearer realm="unterminated'), [
      { scheme: 'bearer', params: {} },
    ]);
  });
});
