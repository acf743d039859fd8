/**
 * bin/berth against a real berthd: the bundle's own grpc-js (bundled into
 * dist/berth/berth.script.js, scripts/bundle-cli.mjs) and the lazily made
 * service clients carry a call and a failure. Needs `npm run build`.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Berthd, REPO } from '../helpers/berthd.js';

const BIN = join(REPO, 'bin/berth');
const root = process.getuid?.() === 0;

describe('bin/berth with berthd', { skip: !root && 'needs root' }, () => {
  let daemon: Berthd;
  before(async () => {
    daemon = await Berthd.start();
  });
  after(() => daemon?.cleanup());

  it('berth version shows the daemon’s version', async () => {
    const client = daemon.client('default');
    const want = await client.version();
    client.close();
    const r = spawnSync(BIN, ['--address', daemon.socket, 'version', '--format', 'json'], {
      encoding: 'utf8',
    });
    assert.equal(r.status, 0, r.stderr);
    const v = JSON.parse(r.stdout) as {
      Server?: { Address: string; Version: string; GitCommit: string };
    };
    assert.deepEqual(v.Server, {
      Address: daemon.socket,
      Version: want.version,
      GitCommit: want.revision,
    });
  });

  it('an address nobody listens on: one error line, exit 125', async () => {
    const dead = join(daemon.dir.path, 'gone.sock');
    const r = spawnSync(BIN, ['--address', dead, 'version'], { encoding: 'utf8', timeout: 20_000 });
    assert.equal(r.status, 125);
    assert.match(r.stderr, new RegExp(`^berth: cannot reach the daemon at ${dead}: .+\\n$`));
  });
});
