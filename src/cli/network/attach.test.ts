import assert from 'node:assert/strict';
import { existsSync, mkdirSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { type TempDir, tempDir } from '../../../test/helpers/tmp.js';
import { parseConfList, ResultCache } from '../../cni/index.js';
import { cniContainerId, containerNetworkInfo, releaseNetwork } from './attach.js';

describe('network state from the CNI cache', () => {
  let tmp: TempDir;
  beforeEach(() => {
    tmp = tempDir();
  });
  afterEach(() => tmp.remove());
  const flags = () => ({
    dataRoot: join(tmp.path, 'data'),
    cniPath: join(tmp.path, 'bin'),
    cniConfDir: '/none',
  });

  it('releaseNetwork with nothing cached is a no-op that makes no file', async () => {
    await releaseNetwork(flags(), 'default', 'abc');
    assert.equal(existsSync(flags().dataRoot), false);
  });

  it('containerNetworkInfo: address, gateway and MAC of eth0 from the cached result', async () => {
    const cache = new ResultCache(join(flags().dataRoot, 'cni'));
    const network = parseConfList(
      JSON.stringify({ cniVersion: '1.0.0', name: 'bridge', plugins: [{ type: 'bridge' }] }),
      'test',
    );
    const rt = (ifName: string) => ({
      containerId: cniContainerId('default', 'abc'),
      netns: '/x',
      ifName,
      args: [] as [string, string][],
      capabilityArgs: {},
    });
    assert.equal(await containerNetworkInfo(flags(), 'default', 'abc'), undefined);
    await cache.write({
      network,
      rt: rt('eth0'),
      result: {
        cniVersion: '1.0.0',
        interfaces: [
          { name: 'berth0', mac: '02:00:00:00:00:01' },
          { name: 'veth1', mac: '02:00:00:00:00:02' },
          { name: 'eth0', mac: '02:00:00:00:00:03', sandbox: '/x' },
        ],
        ips: [
          { address: 'fd00::5/64', interface: 2 },
          { address: '10.66.0.5/24', gateway: '10.66.0.1', interface: 2 },
        ],
      },
    });
    assert.deepEqual(await containerNetworkInfo(flags(), 'default', 'abc'), {
      network: 'bridge',
      ifName: 'eth0',
      addresses: [
        { address: '10.66.0.5', prefixLength: 24, gateway: '10.66.0.1' },
        { address: 'fd00::5', prefixLength: 64 },
      ],
      ipAddress: '10.66.0.5',
      gateway: '10.66.0.1',
      macAddress: '02:00:00:00:00:03',
    });
    // Another namespace's container of the same id is another container.
    assert.equal(await containerNetworkInfo(flags(), 'other', 'abc'), undefined);
    // An entry without a result (an ADD that never finished) shows nothing.
    await cache.write({ network, rt: rt('eth0') });
    assert.equal(await containerNetworkInfo(flags(), 'default', 'abc'), undefined);
  });

  it('releaseNetwork: DEL with a plugin that fails keeps the entry and names the network', async () => {
    const bin = flags().cniPath;
    mkdirSync(bin, { recursive: true });
    writeFileSync(
      join(bin, 'nope'),
      `#!/bin/sh\ncat >/dev/null\necho '{"cniVersion":"1.0.0","code":11,"msg":"busy"}'\nexit 1\n`,
      { mode: 0o755 },
    );
    const cache = new ResultCache(join(flags().dataRoot, 'cni'));
    const network = parseConfList(
      JSON.stringify({ cniVersion: '1.0.0', name: 'n1', plugins: [{ type: 'nope' }] }),
      'test',
    );
    const rt = {
      containerId: 'default-abc',
      netns: '',
      ifName: 'eth0',
      args: [] as [string, string][],
      capabilityArgs: {},
    };
    await cache.write({ network, rt });
    await assert.rejects(
      releaseNetwork(flags(), 'default', 'abc'),
      /releasing the network of container "abc": network "n1": plugin type="nope" failed \(delete\): busy/,
    );
    assert.ok(await cache.read('n1', 'default-abc', 'eth0'));
    // Once its binary is gone it cannot be asked to undo anything: the others (none here) release, the entry goes.
    unlinkSync(join(bin, 'nope'));
    await releaseNetwork(flags(), 'default', 'abc');
    assert.equal(await cache.read('n1', 'default-abc', 'eth0'), undefined);
  });
});
