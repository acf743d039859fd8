import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { diskIdFileStore } from './id-file-store.js';

describe('diskIdFileStore', () => {
  const dir = mkdtempSync(join(tmpdir(), 'berth-idfiles-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('answers undefined for what it never stored, then what was stored: a file or its absence', async () => {
    const store = diskIdFileStore(join(dir, 'etc'));
    assert.equal(await store.get('sha256:a\0etc/group'), undefined);
    await store.set('sha256:a\0etc/group', Buffer.from('root:x:0:\n'));
    await store.set('sha256:a\0etc/passwd', null);
    assert.equal((await store.get('sha256:a\0etc/group'))?.toString(), 'root:x:0:\n');
    assert.equal(await store.get('sha256:a\0etc/passwd'), null);
    assert.equal(await diskIdFileStore(join(dir, 'etc')).get('sha256:b\0etc/group'), undefined);
    assert.equal(
      readdirSync(join(dir, 'etc')).filter((f) => f.endsWith('.tmp')).length,
      0,
      'no temporary file left',
    );
  });

  it('treats a damaged entry as unknown', async () => {
    const store = diskIdFileStore(join(dir, 'bad'));
    await store.set('k', null);
    const [f] = readdirSync(join(dir, 'bad'));
    writeFileSync(join(dir, 'bad', f as string), Buffer.of(7, 1, 2));
    assert.equal(await store.get('k'), undefined);
  });
});
