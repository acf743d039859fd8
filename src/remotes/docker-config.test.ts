import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { isInvalidArgument, isUnavailable } from '../core/errdefs/index.js';
import { helperGet } from './cred-helper.js';
import { configKeyFor, dockerConfigCredentials } from './docker-config.js';

const dir = mkdtempSync(join(tmpdir(), 'berth-dockercfg-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** A credential helper script: knows `known.example` and Hub, logs the server it was asked for. */
function helper(name: string): string {
  const path = join(dir, `docker-credential-${name}`);
  writeFileSync(
    path,
    `#!/bin/sh
[ "$1" = get ] || exit 2
read -r server
echo "$server" >> "${dir}/${name}.log"
case "$server" in
  known.example) echo '{"ServerURL":"known.example","Username":"hu","Secret":"hs"}' ;;
  https://index.docker.io/v1/) echo '{"ServerURL":"x","Username":"<token>","Secret":"idt"}' ;;
  broken.example) echo 'boom' >&2; exit 3 ;;
  *) echo "credentials not found in native keychain"; exit 1 ;;
esac
`,
  );
  chmodSync(path, 0o755);
  return path;
}

function config(sub: string, cfg: object): string {
  const d = join(dir, sub);
  rmSync(d, { recursive: true, force: true });
  mkdirSync(d, { recursive: true });
  writeFileSync(join(d, 'config.json'), JSON.stringify(cfg));
  return d;
}

describe('config.json credentials', () => {
  it('reads auths: auth, username/password, identitytoken; keys with scheme and path', async () => {
    const d = config('auths', {
      auths: {
        'reg.example:5000': { auth: Buffer.from('user:pa:ss').toString('base64') },
        'https://other.example/v1/': { username: 'o', password: 'op' },
        [configKeyFor('docker.io')]: { identitytoken: 'hub-id' },
      },
    });
    const creds = dockerConfigCredentials(d);
    assert.deepEqual(await creds('reg.example:5000'), { username: 'user', secret: 'pa:ss' });
    assert.deepEqual(await creds('other.example'), { username: 'o', secret: 'op' });
    assert.deepEqual(await creds('registry-1.docker.io'), { username: '', secret: 'hub-id' });
    assert.equal(await creds('reg.example'), undefined);
  });

  it('asks credHelpers[host], then credsStore, then auths', async () => {
    const a = helper('alpha');
    helper('beta');
    const d = config('helpers', {
      credsStore: a,
      credHelpers: { 'known.example': 'beta' },
      auths: { 'plain.example': { auth: Buffer.from('p:q').toString('base64') } },
    });
    const saved = process.env.PATH;
    process.env.PATH = `${dir}:${saved}`;
    try {
      const creds = dockerConfigCredentials(d);
      assert.deepEqual(await creds('known.example'), { username: 'hu', secret: 'hs' });
      assert.match(readFileSync(join(dir, 'beta.log'), 'utf8'), /^known.example$/m);
      assert.deepEqual(await creds('docker.io'), { username: '', secret: 'idt' });
      assert.deepEqual(await creds('plain.example'), { username: 'p', secret: 'q' });
      assert.match(readFileSync(join(dir, 'alpha.log'), 'utf8'), /^plain.example$/m);
      await assert.rejects(
        creds('broken.example'),
        (e: Error) => isUnavailable(e) && /exit status 3: boom/.test(e.message),
      );
    } finally {
      process.env.PATH = saved;
    }
  });

  it('follows DOCKER_CONFIG, and says which file is bad', async () => {
    const d = config('env', {
      auths: { 'e.example': { auth: Buffer.from('e:f').toString('base64') } },
    });
    const saved = process.env.DOCKER_CONFIG;
    process.env.DOCKER_CONFIG = d;
    try {
      assert.deepEqual(await dockerConfigCredentials()('e.example'), {
        username: 'e',
        secret: 'f',
      });
      writeFileSync(join(d, 'config.json'), '{oops');
      await assert.rejects(
        dockerConfigCredentials()('e.example'),
        (e: Error) => isInvalidArgument(e) && e.message.includes(join(d, 'config.json')),
      );
    } finally {
      if (saved === undefined) delete process.env.DOCKER_CONFIG;
      else process.env.DOCKER_CONFIG = saved;
    }
    assert.equal(await dockerConfigCredentials(join(dir, 'none'))('e.example'), undefined);
  });

  it('reports a missing helper as unavailable', async () => {
    await assert.rejects(
      helperGet('does-not-exist-berth', 'x'),
      (e: Error) => isUnavailable(e) && /docker-credential-does-not-exist-berth/.test(e.message),
    );
  });
});
