import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { isUnavailable } from '../core/errdefs/index.js';
import { newResolver, type RegistryOptions } from './index.js';
import { FakeRegistry, HttpServer } from './testing/fake-registry.js';

const FAST: RegistryOptions = { dockerConfig: false, retry: { attempts: 1, baseMs: 1, maxMs: 5 } };
const INDEX = 'application/vnd.oci.image.index.v1+json';
const dir = mkdtempSync(join(tmpdir(), 'berth-tls-'));

/** A CA, a server certificate for 127.0.0.1 signed by it, and a client certificate signed by it. */
function pki() {
  const f = (n: string) => join(dir, n);
  const ssl = (...args: string[]) => execFileSync('openssl', args, { stdio: 'ignore' });
  ssl(
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    f('ca.key'),
    '-out',
    f('ca.crt'),
    '-days',
    '1',
    '-subj',
    '/CN=berth test CA',
  );
  writeFileSync(f('san.cnf'), 'subjectAltName=IP:127.0.0.1\n');
  for (const who of ['server', 'client']) {
    ssl(
      'req',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      f(`${who}.key`),
      '-out',
      f(`${who}.csr`),
      '-subj',
      `/CN=${who}`,
    );
    ssl(
      'x509',
      '-req',
      '-in',
      f(`${who}.csr`),
      '-CA',
      f('ca.crt'),
      '-CAkey',
      f('ca.key'),
      '-CAcreateserial',
      '-out',
      f(`${who}.crt`),
      '-days',
      '1',
      ...(who === 'server' ? ['-extfile', f('san.cnf')] : []),
    );
  }
  return f;
}

describe('TLS endpoints from hosts.toml', () => {
  let reg: FakeRegistry;
  let f: (n: string) => string;
  before(async () => {
    f = pki();
    reg = await FakeRegistry.start({
      tls: {
        key: readFileSync(f('server.key')),
        cert: readFileSync(f('server.crt')),
        ca: readFileSync(f('ca.crt')),
        requestCert: true,
        rejectUnauthorized: true,
      },
    });
    reg.addManifest('t', INDEX, Buffer.from('{"manifests":[]}'), 'v1');
  });
  after(async () => {
    await reg.close();
    rmSync(dir, { recursive: true, force: true });
  });

  function hosts(name: string, toml: string): string {
    const root = join(dir, name);
    mkdirSync(join(root, reg.host), { recursive: true });
    writeFileSync(join(root, reg.host, 'hosts.toml'), toml);
    return root;
  }

  it('verifies the server with `ca` and presents the `client` pair', async () => {
    const root = hosts(
      'ok',
      `server = "https://${reg.host}"\nca = "${f('ca.crt')}"\nclient = [["${f('client.crt')}", "${f('client.key')}"]]\n`,
    );
    const { desc } = await newResolver({ ...FAST, hostsDir: root }).resolve(`${reg.host}/t:v1`);
    assert.equal(desc.mediaType, INDEX);
  });

  it('refuses an unknown server certificate, unless skip_verify', async () => {
    const client = `client = [["${f('client.crt')}", "${f('client.key')}"]]\n`;
    const strict = hosts('strict', `server = "https://${reg.host}"\n${client}`);
    await assert.rejects(
      newResolver({ ...FAST, hostsDir: strict }).resolve(`${reg.host}/t:v1`),
      (e: Error) =>
        isUnavailable(e) &&
        new RegExp(`HEAD https://${reg.host}/v2/t/manifests/v1: .*certificate`).test(e.message),
    );
    const skip = hosts('skip', `server = "https://${reg.host}"\nskip_verify = true\n${client}`);
    assert.equal(
      (await newResolver({ ...FAST, hostsDir: skip }).resolve(`${reg.host}/t:v1`)).desc.mediaType,
      INDEX,
    );
  });

  it('fetches tokens from an HTTPS realm with the endpoint TLS settings', async () => {
    const tlsOpts = { key: readFileSync(f('server.key')), cert: readFileSync(f('server.crt')) };
    const tokens = await HttpServer.start((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"token":"tls-token"}');
    }, tlsOpts);
    const secured = await FakeRegistry.start({
      tls: tlsOpts,
      auth: {
        scheme: 'bearer',
        realm: `https://${tokens.host}/token`,
        service: 's',
        token: 'tls-token',
      },
    });
    try {
      secured.addManifest('t', INDEX, Buffer.from('{"manifests":[]}'), 'v1');
      const root = join(dir, 'bearer');
      mkdirSync(join(root, secured.host), { recursive: true });
      writeFileSync(
        join(root, secured.host, 'hosts.toml'),
        `server = "https://${secured.host}"\nca = "${f('ca.crt')}"\n`,
      );
      const { desc } = await newResolver({ ...FAST, hostsDir: root }).resolve(
        `${secured.host}/t:v1`,
      );
      assert.equal(desc.mediaType, INDEX);
      assert.equal(tokens.requests.length, 1);
    } finally {
      await secured.close();
      await tokens.close();
    }
  });

  it('fails without the client certificate the server requires', async () => {
    const root = hosts('noclient', `server = "https://${reg.host}"\nca = "${f('ca.crt')}"\n`);
    await assert.rejects(
      newResolver({ ...FAST, hostsDir: root }).resolve(`${reg.host}/t:v1`),
      isUnavailable,
    );
  });
});
