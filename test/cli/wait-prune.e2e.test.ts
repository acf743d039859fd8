/**
 * `berth wait` on a container not started yet, `berth inspect` and
 * `berth system prune` through the image commands' lookup and prune, and
 * flags that did nothing now refused, against a real berthd.
 */
import assert from 'node:assert/strict';
import { createReadStream, existsSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Client } from '../../src/client/index.js';
import { BERTH, BerthCli } from '../helpers/berth-cli.js';
import { Berthd } from '../helpers/berthd.js';
import {
  BUSYBOX_APPLETS,
  buildImage,
  busyboxImage,
  busyboxLayer,
  skopeoCopy,
} from '../helpers/images.js';
import { type TempDir, tempDir } from '../helpers/tmp.js';

const root = process.getuid?.() === 0;
const IMAGE = 'localhost/berth/tidy:v1';

describe('berth wait, inspect and system prune', { skip: !root && 'needs root' }, () => {
  let tmp: TempDir;
  let d: Berthd;
  let cli: BerthCli;
  let client: Client;

  before(async () => {
    assert.ok(existsSync(BERTH), `${BERTH} is missing`);
    tmp = tempDir('berth-tidy-');
    d = await Berthd.start();
    cli = new BerthCli({ socket: d.socket, dataRoot: join(tmp.path, 'data') });
    client = new Client(d.socket, { namespace: 'default' });
    const built = await buildImage(
      tmp,
      busyboxImage({ layers: [busyboxLayer([...BUSYBOX_APPLETS])] }),
    );
    const archive = join(tmp.path, 'image.tar');
    skopeoCopy(built, `oci-archive:${archive}:v1`);
    await client.import(createReadStream(archive), {
      unpack: true,
      baseName: 'localhost/berth/tidy',
    });
  });

  after(async () => {
    for (const c of (await client?.containers().catch(() => [])) ?? []) {
      await cli.run(['rm', '-f', c.id]).catch(() => undefined);
    }
    client?.close();
    await d?.cleanup();
    tmp?.remove();
  });

  it('wait blocks on a created container until it has run and stopped', async () => {
    await cli.ok(['create', '--network', 'none', '--name', 'later', IMAGE, 'sh', '-c', 'exit 5']);
    const waited = cli.run(['wait', 'later']);
    // Nothing to answer before the start (berth used to fail at once here): still waiting.
    const early = await Promise.race([
      waited.then(() => 'returned'),
      new Promise<string>((r) => setTimeout(() => r('waiting'), 300)),
    ]);
    assert.equal(early, 'waiting');
    await cli.ok(['start', 'later']);
    const r = await waited;
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, '5\n');
    // Stopped now: answered at once.
    assert.equal(await cli.ok(['wait', 'later']), '5\n');
  });

  it('inspect finds an image by name and by ID prefix, containers first', async () => {
    const [byName] = JSON.parse(await cli.ok(['inspect', IMAGE])) as { Id: string }[];
    assert.match(byName?.Id ?? '', /^sha256:[0-9a-f]{64}$/);
    const prefix = (byName?.Id ?? '').slice(7, 19);
    const [byId] = JSON.parse(await cli.ok(['inspect', '--type', 'image', prefix])) as {
      RepoTags: string[];
    }[];
    assert.deepEqual(byId?.RepoTags, ['localhost/berth/tidy:v1']);
    const both = JSON.parse(await cli.ok(['inspect', 'later', IMAGE])) as { Id: string }[];
    assert.equal(both.length, 2);
    const r = await cli.run(['inspect', IMAGE, 'nothing-here']);
    assert.equal(r.code, 125);
    assert.equal(r.stderr, 'berth: No such object: nothing-here\n');
  });

  it('flags that did nothing are refused as unknown', async () => {
    for (const args of [
      ['ps', '-s'],
      ['logs', '--details', 'later'],
      ['inspect', '-s', 'later'],
    ]) {
      const r = await cli.run(args);
      assert.equal(r.code, 125, args.join(' '));
      assert.match(r.stderr, /^berth: unknown (shorthand )?flag/);
    }
  });

  it("system prune -a prints docker's lines: containers, then images, then the total", async () => {
    const out = await cli.ok(['system', 'prune', '-a', '-f']);
    const id = (await client.containers()).length;
    assert.equal(id, 0);
    assert.match(
      out,
      /^Deleted Containers:\n[0-9a-f]{64}\n\nDeleted Images:\nuntagged: localhost\/berth\/tidy:v1\ndeleted: sha256:[0-9a-f]{64}\n\nTotal reclaimed space: \d+(\.\d+)?[kM]?B\n$/,
    );
    assert.deepEqual(await client.listImages(), []);
  });
});
