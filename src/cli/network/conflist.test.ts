import assert from 'node:assert/strict';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { type TempDir, tempDir } from '../../../test/helpers/tmp.js';
import { parseConfList } from '../../cni/index.js';
import {
  DEFAULT_CONFLIST_FILE,
  defaultNetworkConflist,
  ensureDefaultNetwork,
  findNetwork,
  ipamDataDir,
} from './conflist.js';

describe('the default bridge network', () => {
  let tmp: TempDir;
  beforeEach(() => {
    tmp = tempDir();
  });
  afterEach(() => tmp.remove());

  it('is bridge berth0 (gateway, masquerade, hairpin) with host-local under the data root, portmap and firewall', () => {
    const c = defaultNetworkConflist({ ipamDataDir: '/var/lib/berth-cli/cni/networks' });
    assert.deepEqual(c, {
      cniVersion: '1.0.0',
      name: 'bridge',
      plugins: [
        {
          type: 'bridge',
          bridge: 'berth0',
          isGateway: true,
          ipMasq: true,
          hairpinMode: true,
          ipam: {
            type: 'host-local',
            ranges: [[{ subnet: '10.66.0.0/24' }]],
            routes: [{ dst: '0.0.0.0/0' }],
            dataDir: '/var/lib/berth-cli/cni/networks',
          },
        },
        { type: 'portmap', capabilities: { portMappings: true } },
        { type: 'firewall', ingressPolicy: 'same-bridge' },
      ],
    });
    // berth's own CNI code reads it.
    const list = parseConfList(JSON.stringify(c), 'test');
    assert.deepEqual(
      list.plugins.map((p) => p.type),
      ['bridge', 'portmap', 'firewall'],
    );
    const own = defaultNetworkConflist({
      name: 'n',
      bridge: 'brtx',
      subnet: '10.201.3.0/24',
      ipMasq: false,
      ipamDataDir: '/d',
    }) as { name: string; plugins: Record<string, unknown>[] };
    assert.equal(own.name, 'n');
    assert.equal(own.plugins[0]?.bridge, 'brtx');
    assert.equal(own.plugins[0]?.ipMasq, false);
  });

  it('is written once into the conf dir, and not over a network the user named bridge', () => {
    const confDir = join(tmp.path, 'net.d');
    const dataRoot = join(tmp.path, 'data');
    assert.equal(ensureDefaultNetwork(confDir, dataRoot), true);
    assert.deepEqual(readdirSync(confDir), [DEFAULT_CONFLIST_FILE]);
    const written = JSON.parse(readFileSync(join(confDir, DEFAULT_CONFLIST_FILE), 'utf8'));
    assert.equal(written.plugins[0].ipam.dataDir, ipamDataDir(dataRoot));
    assert.equal(findNetwork(confDir, 'bridge').name, 'bridge');
    assert.equal(ensureDefaultNetwork(confDir, dataRoot), false);

    const other = join(tmp.path, 'other.d');
    assert.equal(ensureDefaultNetwork(other, dataRoot), true);
    writeFileSync(join(other, DEFAULT_CONFLIST_FILE), '{"not": "a conflist"');
    writeFileSync(
      join(other, '05-mine.conflist'),
      JSON.stringify({ cniVersion: '1.0.0', name: 'bridge', plugins: [{ type: 'bridge' }] }),
    );
    assert.equal(ensureDefaultNetwork(other, dataRoot), false);
    assert.equal(findNetwork(other, 'bridge').source, join(other, '05-mine.conflist'));
  });

  it('findNetwork: not_found names the network, the dir and the files it could not read', () => {
    const confDir = join(tmp.path, 'net.d');
    assert.throws(
      () => findNetwork(confDir, 'web'),
      /network "web" not found: no CNI config names it in/,
    );
    ensureDefaultNetwork(confDir, tmp.path);
    writeFileSync(join(confDir, '99-bad.conflist'), 'nope');
    assert.throws(
      () => findNetwork(confDir, 'web'),
      (e: Error & { kind?: string }) =>
        e.kind === 'not_found' && /unreadable: .*99-bad\.conflist: not JSON/.test(e.message),
    );
  });
});
