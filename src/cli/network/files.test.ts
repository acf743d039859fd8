import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { type TempDir, tempDir } from '../../../test/helpers/tmp.js';
import { hostsContent, resolvConfContent, writeContainerFiles, writeInPlace } from './files.js';

describe('container files', () => {
  let tmp: TempDir;
  beforeEach(() => {
    tmp = tempDir();
  });
  afterEach(() => tmp.remove());

  it('hosts: localhost for both families, then the address with hostname and name', () => {
    const text = hostsContent({ ips: ['10.66.0.5'], hostname: 'abc123', name: 'web' });
    const lines = text.split('\n');
    assert.equal(lines[0], '127.0.0.1\tlocalhost');
    assert.equal(lines[1], '::1\tlocalhost ip6-localhost ip6-loopback');
    assert.equal(lines.at(-2), '10.66.0.5\tabc123 web');
    assert.ok(text.endsWith('\n'));
    assert.doesNotMatch(hostsContent({ ips: [], hostname: 'h' }), /\bh\b/);
    assert.match(
      hostsContent({ ips: ['10.0.0.2'], hostname: 'same', name: 'same' }),
      /^10\.0\.0\.2\tsame$/m,
    );
  });

  it('resolv.conf: local nameservers dropped, search and options kept', () => {
    const host =
      'nameserver 127.0.0.53\nnameserver 10.1.2.3\nnameserver ::1\nsearch example.org\noptions edns0 trust-ad\n';
    assert.equal(
      resolvConfContent(host),
      'nameserver 10.1.2.3\nsearch example.org\noptions edns0 trust-ad\n',
    );
  });

  it("resolv.conf: docker's defaults when only local ones were there", () => {
    const out = resolvConfContent('# systemd-resolved\nnameserver 127.0.0.53\noptions edns0\n');
    assert.match(out, /^options edns0$/m);
    assert.deepEqual(
      out.split('\n').filter((l) => l.startsWith('nameserver')),
      ['nameserver 8.8.8.8', 'nameserver 8.8.4.4'],
    );
    assert.doesNotMatch(out, /127\.0\.0\.53/);
    assert.match(resolvConfContent(''), /nameserver 8\.8\.8\.8/);
  });

  it('writes the three files, in place over existing ones (same inode, so bind mounts stay valid)', () => {
    const etc = join(tmp.path, 'etc');
    const dir = join(tmp.path, 'ctr');
    mkdirSync(etc);
    writeFileSync(join(etc, 'resolv.conf'), 'nameserver 127.0.0.53\nnameserver 192.0.2.1\n');
    writeFileSync(join(etc, 'hosts'), '127.0.0.1 localhost myhost\n');
    const p = writeContainerFiles(dir, { hostNetwork: false, hostname: 'web1', etc });
    assert.equal(readFileSync(p.resolvConf, 'utf8'), 'nameserver 192.0.2.1\n');
    assert.equal(readFileSync(p.hostname, 'utf8'), 'web1\n');
    assert.match(readFileSync(p.hosts, 'utf8'), /^127\.0\.0\.1\tlocalhost$/m);
    const ino = statSync(p.hosts).ino;
    writeInPlace(p.hosts, hostsContent({ ips: ['10.66.0.9'], hostname: 'web1' }));
    assert.equal(statSync(p.hosts).ino, ino);
    assert.match(readFileSync(p.hosts, 'utf8'), /^10\.66\.0\.9\tweb1$/m);

    const h = writeContainerFiles(join(tmp.path, 'hostnet'), {
      hostNetwork: true,
      hostname: '',
      etc,
    });
    assert.equal(
      readFileSync(h.resolvConf, 'utf8'),
      'nameserver 127.0.0.53\nnameserver 192.0.2.1\n',
    );
    assert.equal(readFileSync(h.hosts, 'utf8'), '127.0.0.1 localhost myhost\n');
    assert.equal(readFileSync(h.hostname, 'utf8'), `${hostname()}\n`);
  });
});
