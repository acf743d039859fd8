import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { isInvalidArgument } from '../core/errdefs/index.js';
import { hostDirCandidates, isLocalhost, parseHostsToml, registryHosts } from './hosts.js';

const root = mkdtempSync(join(tmpdir(), 'berth-hosts-'));
after(() => rmSync(root, { recursive: true, force: true }));

function hostsToml(dir: string, text: string): void {
  mkdirSync(join(root, dir), { recursive: true });
  writeFileSync(join(root, dir, 'hosts.toml'), text);
}

const brief = (hs: ReturnType<typeof registryHosts>) =>
  hs.map((h) => `${h.scheme}://${h.host}${h.path} ${[...h.capabilities].join(',')}`);

describe('hosts.toml', () => {
  it('orders mirrors as written, then the server; URLs, paths and capabilities as containerd reads them', () => {
    const hs = parseHostsToml(
      `server = "https://registry.example.com"
       [host."https://z-mirror.example.com"]
         capabilities = ["pull", "resolve"]
         ca = "ca.crt"
         skip_verify = true
         [host."https://z-mirror.example.com".header]
           x-a = "1"
           x-b = ["2", "3"]
       [host."http://a-mirror:5000/path"]
         capabilities = ["pull"]
         client = [["c.pem", "/abs/k.pem"]]
       [host."https://raw.example.com/custom/api"]
         override_path = true
         ca = ["x.crt", "/y.crt"]`,
      '/etc/certs.d/example.com',
    );
    assert.deepEqual(
      hs.map((h) => [h.scheme, h.host, h.path, h.capabilities.join(',')]),
      [
        ['https', 'z-mirror.example.com', '/v2', 'pull,resolve'],
        ['http', 'a-mirror:5000', '/path/v2', 'pull'],
        ['https', 'raw.example.com', '/custom/api', 'pull,resolve,push'],
        ['https', 'registry.example.com', '/v2', 'pull,resolve,push'],
      ],
    );
    assert.deepEqual(hs[0]?.caCerts, ['/etc/certs.d/example.com/ca.crt']);
    assert.equal(hs[0]?.skipVerify, true);
    assert.deepEqual(hs[0]?.header, { 'x-a': ['1'], 'x-b': ['2', '3'] });
    assert.deepEqual(hs[1]?.clientPairs, [['/etc/certs.d/example.com/c.pem', '/abs/k.pem']]);
    assert.deepEqual(hs[2]?.caCerts, ['/etc/certs.d/example.com/x.crt', '/y.crt']);
  });

  it('rejects what containerd rejects, naming the file and key', () => {
    assert.throws(
      () => parseHostsToml('[host."https://m"]\ncapabilities = ["fly"]', '/d', '/d/hosts.toml'),
      (e: Error) =>
        isInvalidArgument(e) &&
        /\/d\/hosts.toml: host."https:\/\/m": unknown capability "fly"/.test(e.message),
    );
    assert.throws(() => parseHostsToml('server = 5', '/d'), isInvalidArgument);
    assert.throws(() => parseHostsToml('ca = 5', '/d'), isInvalidArgument);
    assert.throws(
      () => parseHostsToml('[x', '/d', 'f.toml'),
      (e: Error) => isInvalidArgument(e) && e.message.startsWith('f.toml: '),
    );
  });

  it('finds the directory as host_port_, host:port, then _default', () => {
    assert.deepEqual(hostDirCandidates('/c', 'reg:5000'), [
      '/c/reg_5000_',
      '/c/reg:5000',
      '/c/_default',
    ]);
    assert.deepEqual(hostDirCandidates('/c', 'reg'), ['/c/reg', '/c/_default']);
    hostsToml(
      'reg.example:5000',
      '[host."http://127.0.0.1:1"]\ncapabilities = ["pull", "resolve"]',
    );
    hostsToml('_default', 'server = "https://fallback.example"');
    assert.deepEqual(brief(registryHosts('reg.example:5000', { hostsDir: root })), [
      'http://127.0.0.1:1/v2 pull,resolve',
      'https://reg.example:5000/v2 pull,resolve,push',
    ]);
    assert.deepEqual(brief(registryHosts('other.example', { hostsDir: root })), [
      'https://fallback.example/v2 pull,resolve,push',
    ]);
  });

  it('reads a directory without hosts.toml as Docker certs.d', () => {
    mkdirSync(join(root, 'certs.example'));
    writeFileSync(join(root, 'certs.example', 'ca.crt'), 'not a cert');
    // The CA is read when the endpoint is built: a bad one fails early and clearly.
    assert.throws(() => registryHosts('certs.example', { hostsDir: root }), /certs.example/);
  });
});

describe('default endpoints', () => {
  it('serves docker.io from registry-1.docker.io over HTTPS', () => {
    assert.deepEqual(brief(registryHosts('docker.io')), [
      'https://registry-1.docker.io/v2 pull,resolve,push',
    ]);
  });

  it('uses plain HTTP for localhost and loopback with a port other than 443', () => {
    assert.deepEqual(brief(registryHosts('127.0.0.1:5000')), [
      'http://127.0.0.1:5000/v2 pull,resolve,push',
    ]);
    assert.deepEqual(brief(registryHosts('localhost:80')), [
      'http://localhost:80/v2 pull,resolve,push',
    ]);
    assert.deepEqual(brief(registryHosts('[::1]:5000')), [
      'http://[::1]:5000/v2 pull,resolve,push',
    ]);
    assert.deepEqual(brief(registryHosts('localhost')), ['https://localhost/v2 pull,resolve,push']);
    assert.deepEqual(brief(registryHosts('reg.example:5000')), [
      'https://reg.example:5000/v2 pull,resolve,push',
    ]);
    assert.deepEqual(brief(registryHosts('reg.example:5000', { plainHttp: true })), [
      'http://reg.example:5000/v2 pull,resolve,push',
    ]);
  });

  it('knows loopback names', () => {
    for (const h of [
      'localhost',
      'localhost:1',
      '127.0.0.1',
      '127.1.2.3:5000',
      '[::1]:5000',
      '::1',
    ]) {
      assert.ok(isLocalhost(h), h);
    }
    for (const h of ['example.com', '10.0.0.1:5000', 'localhost.example'])
      assert.ok(!isLocalhost(h), h);
  });
});
