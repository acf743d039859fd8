import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import BetterSqlite3 from 'better-sqlite3';
import { Berthd } from '../helpers/berthd.js';
import { ctr, ctrOk, table } from '../helpers/ctr.js';

const root = process.getuid?.() === 0;

describe('the real ctr against berthd', { skip: !root && 'needs root' }, () => {
  let d: Berthd;
  before(async () => {
    d = await Berthd.start();
  });
  after(async () => {
    await d.cleanup();
  });

  it('ctr version shows the server version', async () => {
    const out = ctrOk(d.socket, ['version']);
    const pkg = (await import('../../package.json', { with: { type: 'json' } })).default;
    assert.match(out, /^Client:/m);
    assert.match(out, /^Server:\n\s+Version:\s+(\S+)\n\s+Revision:\s+(\S+)/m);
    const server = out.slice(out.indexOf('Server:'));
    assert.match(server, new RegExp(`Version:\\s+${pkg.version.replace(/\./g, '\\.')}\\n`));
    assert.match(server, /UUID:\s+[0-9a-f-]{36}/);
  });

  it('creates, labels, lists and removes a namespace', () => {
    ctrOk(d.socket, ['namespaces', 'create', 'a']);
    ctrOk(d.socket, ['namespaces', 'label', 'a', 'k=v']);
    ctrOk(d.socket, ['namespaces', 'create', 'b', 'x=1', 'y=2']);
    const rows = table(ctrOk(d.socket, ['namespaces', 'ls']));
    assert.deepEqual(rows[0], ['NAME', 'LABELS']);
    assert.deepEqual(rows.slice(1), [
      ['a', 'k=v'],
      ['b', 'x=1,y=2'],
    ]);
    assert.equal(ctrOk(d.socket, ['namespaces', 'ls', '-q']), 'a\nb\n');

    // An empty value removes the label, as containerd does.
    ctrOk(d.socket, ['namespaces', 'label', 'a', 'k=']);
    assert.deepEqual(table(ctrOk(d.socket, ['namespaces', 'ls'])).slice(1), [
      ['a'],
      ['b', 'x=1,y=2'],
    ]);

    ctrOk(d.socket, ['namespaces', 'rm', 'a']);
    assert.equal(ctrOk(d.socket, ['namespaces', 'ls', '-q']), 'b\n');
    ctrOk(d.socket, ['namespaces', 'rm', 'b']);
    assert.equal(ctrOk(d.socket, ['namespaces', 'ls', '-q']), '');
  });

  it('refuses a duplicate namespace and reports a missing one on rm', () => {
    ctrOk(d.socket, ['namespaces', 'create', 'dup']);
    const again = ctr(d.socket, ['namespaces', 'create', 'dup']);
    assert.notEqual(again.code, 0);
    assert.match(again.stderr, /namespace "dup": already exists/);
    ctrOk(d.socket, ['namespaces', 'rm', 'dup']);

    // ctr treats NOT_FOUND on rm as done: it prints the name and exits 0,
    // as it does against containerd. Anything else would make it fail.
    assert.equal(ctrOk(d.socket, ['namespaces', 'rm', 'nope']), 'nope\n');
  });

  it('refuses to remove a namespace that still holds resources, naming them', () => {
    ctrOk(d.socket, ['namespaces', 'create', 'busy']);
    // No service creates images yet: put rows in the live store directly.
    const db = new BetterSqlite3(join(d.root, 'io.containerd.metadata.v1.sqlite', 'meta.db'));
    try {
      db.prepare(
        `INSERT INTO images (namespace, name, target_media_type, target_digest, target_size, created_at, updated_at)
         VALUES ('busy', 'example.com/x:1', 'application/vnd.oci.image.index.v1+json', 'sha256:00', 1, 0, 0)`,
      ).run();
      db.prepare(
        `INSERT INTO containers (namespace, id, created_at, updated_at) VALUES ('busy', 'c1', 0, 0)`,
      ).run();
    } finally {
      db.close();
    }
    const r = ctr(d.socket, ['namespaces', 'rm', 'busy']);
    assert.notEqual(r.code, 0);
    assert.match(
      r.stderr,
      /namespace "busy" must be empty, but it still has images, containers: failed precondition/,
    );
    assert.match(ctrOk(d.socket, ['namespaces', 'ls', '-q']), /^busy$/m);
  });

  it('rejects an invalid namespace name with a clear error', () => {
    for (const bad of ['bad name', 'dot.-dash', 'UPPER!', 'x'.repeat(77)]) {
      const r = ctr(d.socket, ['namespaces', 'create', bad]);
      assert.notEqual(r.code, 0, `create ${bad} should fail`);
      assert.match(r.stderr, /identifier .* (must match|greater than maximum length)/);
      assert.match(r.stderr, /invalid argument/);
    }
    assert.doesNotMatch(ctrOk(d.socket, ['namespaces', 'ls', '-q']), /bad|dot|UPPER|xxx/);
  });

  it('ctr plugins ls lists berth plugins with their status', () => {
    const rows = table(ctrOk(d.socket, ['plugins', 'ls']));
    assert.deepEqual(rows[0], ['TYPE', 'ID', 'PLATFORMS', 'STATUS']);
    const plugins = new Map(rows.slice(1).map((r) => [`${r[0]} ${r[1]}`, r[3]]));
    for (const p of [
      'io.containerd.metadata.v1 sqlite',
      'io.containerd.service.v1 namespaces-service',
      'io.containerd.grpc.v1 namespaces',
      'io.containerd.grpc.v1 version',
      'io.containerd.grpc.v1 introspection',
      'io.containerd.grpc.v1 healthcheck',
      'io.containerd.content.v1 content',
      'io.containerd.event.v1 exchange',
      'io.containerd.gc.v1 scheduler',
      'io.containerd.lease.v1 manager',
      'io.containerd.grpc.v1 content',
      'io.containerd.grpc.v1 events',
      'io.containerd.grpc.v1 images',
      'io.containerd.grpc.v1 leases',
      'io.containerd.service.v1 containers-service',
      'io.containerd.grpc.v1 containers',
      'io.containerd.monitor.container.v1 restart',
    ]) {
      assert.equal(plugins.get(p), 'ok', `${p} in ${JSON.stringify([...plugins])}`);
    }
    const detailed = ctrOk(d.socket, ['plugins', 'ls', '-d']);
    assert.match(detailed, /Type:\s+io\.containerd\.metadata\.v1/);
    assert.match(detailed, /path\s+.*meta\.db/);

    const filtered = table(ctrOk(d.socket, ['plugins', 'ls', 'type==io.containerd.grpc.v1']));
    assert.ok(filtered.length > 1);
    assert.ok(filtered.slice(1).every((r) => r[0] === 'io.containerd.grpc.v1'));

    const badFilter = ctr(d.socket, ['plugins', 'ls', 'type==']);
    assert.notEqual(badFilter.code, 0);
    assert.match(badFilter.stderr, /filter/);
  });
});
