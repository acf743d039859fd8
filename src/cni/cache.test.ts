import assert from 'node:assert/strict';
import { readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { type TempDir, tempDir } from '../../test/helpers/tmp.js';
import { isDataLoss } from '../core/errdefs/index.js';
import { ResultCache } from './cache.js';
import { parseConfList } from './conf.js';
import { parseResult } from './result.js';

const network = parseConfList(
  JSON.stringify({ cniVersion: '1.0.0', name: 'pods', plugins: [{ type: 'bridge' }] }),
  'mem',
);
const rt = (containerId: string, ifName = 'eth0') => ({
  containerId,
  netns: '/ns',
  ifName,
  args: [['K8S_POD_NAME', 'p']] as [string, string][],
  capabilityArgs: { portMappings: [{ hostPort: 80, containerPort: 80, protocol: 'tcp' }] },
});
const result = parseResult(
  { cniVersion: '0.4.0', ips: [{ version: '4', address: '10.0.0.2/24' }] },
  '1.0.0',
  't',
);

describe('cni result cache', () => {
  let tmp: TempDir;
  let cache: ResultCache;
  beforeEach(() => {
    tmp = tempDir();
    cache = new ResultCache(join(tmp.path, 'cni'));
  });
  afterEach(() => tmp.remove());

  it('writes libcni-named files atomically and reads them back', async () => {
    await cache.write({ network, rt: rt('abc') });
    assert.equal((await cache.read('pods', 'abc', 'eth0'))?.result, undefined);
    await cache.write({ network, rt: rt('abc'), result });
    assert.deepEqual(readdirSync(cache.resultsDir), ['pods-abc-eth0']);
    const e = await cache.read('pods', 'abc', 'eth0');
    assert.deepEqual(e?.rt, rt('abc'));
    assert.equal(e?.network.bytes, network.bytes);
    assert.deepEqual(e?.result, result);
    assert.equal(await cache.read('pods', 'abc', 'eth1'), undefined);
  });

  it("lists one container's entries, skipping damaged files and other containers", async () => {
    await cache.write({ network, rt: rt('abc'), result });
    await cache.write({ network, rt: rt('abc', 'lo') });
    await cache.write({ network, rt: rt('abcd') });
    writeFileSync(join(cache.resultsDir, 'broken-abc-eth1'), '{');
    const bad: string[] = [];
    const entries = await cache.list('abc', (p) => bad.push(p));
    assert.deepEqual(entries.map((e) => e.rt.ifName).sort(), ['eth0', 'lo']);
    assert.deepEqual(bad, [join(cache.resultsDir, 'broken-abc-eth1')]);
    await assert.rejects(cache.read('broken', 'abc', 'eth1'), isDataLoss);
    await cache.remove('pods', 'abc', 'eth0');
    await cache.remove('pods', 'abc', 'eth0');
    assert.deepEqual(await cache.list('nothing', () => {}), []);
  });
});
