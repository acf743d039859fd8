import assert from 'node:assert/strict';
import {
  chmodSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import {
  dockerConfigCredentials,
  eraseDockerCredentials,
  storeDockerCredentials,
} from './docker-config.js';

const root = mkdtempSync(join(tmpdir(), 'berth-dockercfg-store-'));
after(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
const fresh = () => mkdtempSync(join(root, `d${++n}-`));
const read = (dir: string) => JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));

describe('storeDockerCredentials', () => {
  it('writes auths.<host>.auth as base64 user:password, mode 0600, keeping other keys', async () => {
    const dir = fresh();
    writeFileSync(
      join(dir, 'config.json'),
      JSON.stringify({
        psFormat: 'table {{.ID}}',
        auths: { 'other.example': { auth: 'eDp5' } },
        proxies: { default: { httpProxy: 'http://p:3128' } },
      }),
    );
    await storeDockerCredentials(dir, '127.0.0.1:5000', { username: 'u', secret: 'p:w' });
    const cfg = read(dir);
    assert.equal(cfg.psFormat, 'table {{.ID}}');
    assert.deepEqual(cfg.proxies, { default: { httpProxy: 'http://p:3128' } });
    assert.equal(cfg.auths['other.example'].auth, 'eDp5');
    assert.equal(cfg.auths['127.0.0.1:5000'].auth, Buffer.from('u:p:w').toString('base64'));
    assert.equal(statSync(join(dir, 'config.json')).mode & 0o777, 0o600);
    // No temporary file is left beside it.
    assert.deepEqual(readdirSync(dir), ['config.json']);
    // What was written is what a pull reads.
    assert.deepEqual(await dockerConfigCredentials(dir)('127.0.0.1:5000'), {
      username: 'u',
      secret: 'p:w',
    });
  });

  it("keeps Docker Hub's credentials under https://index.docker.io/v1/, replacing other spellings", async () => {
    const dir = fresh();
    writeFileSync(
      join(dir, 'config.json'),
      JSON.stringify({ auths: { 'index.docker.io': { auth: 'b2xkOm9sZA==' } } }),
    );
    await storeDockerCredentials(dir, 'docker.io', { username: 'hub', secret: 's' });
    assert.deepEqual(Object.keys(read(dir).auths), ['https://index.docker.io/v1/']);
    assert.deepEqual(await dockerConfigCredentials(dir)('registry-1.docker.io'), {
      username: 'hub',
      secret: 's',
    });
  });

  it('creates the directory and file when there is none', async () => {
    const dir = join(fresh(), 'sub', '.docker');
    await storeDockerCredentials(dir, 'r.example', { username: 'a', secret: 'b' });
    assert.deepEqual(read(dir), { auths: { 'r.example': { auth: 'YTpi' } } });
  });

  it('stores through credsStore and erases from it, leaving no secret in the file', async () => {
    const dir = fresh();
    const log = join(dir, 'helper.log');
    const helper = join(dir, 'docker-credential-test');
    writeFileSync(
      helper,
      `#!/bin/sh\necho "$1 $(cat)" >> "${log}"\n[ "$1" = erase ] && [ -n "$NOTFOUND" ] && { echo "credentials not found"; exit 1; }\nexit 0\n`,
    );
    chmodSync(helper, 0o755);
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ credsStore: helper }));
    const where = await storeDockerCredentials(dir, 'r.example', { username: 'u', secret: 's' });
    assert.equal(where.helper, helper);
    assert.deepEqual(read(dir), { credsStore: helper, auths: { 'r.example': {} } });
    assert.match(
      readFileSync(log, 'utf8'),
      /^store \{"ServerURL":"r.example","Username":"u","Secret":"s"\}$/m,
    );
    assert.equal(await eraseDockerCredentials(dir, 'r.example'), true);
    assert.deepEqual(read(dir), { credsStore: helper, auths: {} });
    assert.match(readFileSync(log, 'utf8'), /^erase r.example$/m);
  });
});

describe('eraseDockerCredentials', () => {
  it('removes the host and keeps the rest; false when the host had nothing', async () => {
    const dir = fresh();
    writeFileSync(
      join(dir, 'config.json'),
      JSON.stringify({
        auths: { 'a.example': { auth: 'YTpi' }, 'b.example': { auth: 'YzpkCg==' } },
        x: 1,
      }),
    );
    assert.equal(await eraseDockerCredentials(dir, 'a.example'), true);
    assert.deepEqual(read(dir), { auths: { 'b.example': { auth: 'YzpkCg==' } }, x: 1 });
    assert.equal(await eraseDockerCredentials(dir, 'a.example'), false);
    assert.equal(await eraseDockerCredentials(fresh(), 'a.example'), false);
  });
});
