import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isInvalidArgument } from '../core/errdefs/index.js';
import { parseResult, podIps, resultAs } from './result.js';
import { compareVersions } from './version.js';

const v040 = {
  cniVersion: '0.4.0',
  interfaces: [
    { name: 'cni0', mac: '00:11:22:33:44:55' },
    { name: 'veth1', mac: '00:11:22:33:44:66' },
    { name: 'eth0', mac: '00:11:22:33:44:77', sandbox: '/run/netns/x' },
  ],
  ips: [
    { version: '6', address: 'fd00::5/64', gateway: 'fd00::1', interface: 2 },
    { version: '4', address: '10.22.0.5/16', gateway: '10.22.0.1', interface: 2 },
  ],
  routes: [{ dst: '0.0.0.0/0' }],
  dns: {},
};

describe('cni results', () => {
  it('compares versions numerically', () => {
    assert.ok(compareVersions('0.10.0', '0.4.0') > 0);
    assert.ok(compareVersions('0.3.1', '0.4.0') < 0);
    assert.equal(compareVersions('1.0.0', '1.0.0'), 0);
  });

  it('reads a 0.4.0 result into the 1.0.0 shape and back', () => {
    const r = parseResult(v040, '1.0.0', 'test');
    assert.equal(r.cniVersion, '1.0.0');
    assert.deepEqual(r.ips?.[1], { address: '10.22.0.5/16', gateway: '10.22.0.1', interface: 2 });
    const back = resultAs(r, '0.4.0');
    assert.equal(back.cniVersion, '0.4.0');
    assert.deepEqual(back.ips, v040.ips);
    assert.deepEqual(back.interfaces, v040.interfaces);
    const one = resultAs(r, '1.0.0');
    assert.equal((one.ips as { version?: string }[])[0]?.version, undefined);
  });

  it('takes the config version when the result has none', () => {
    const { cniVersion: _, ...noVersion } = v040;
    assert.equal(parseResult(noVersion, '0.3.1', 'test').cniVersion, '1.0.0');
    assert.throws(
      () => parseResult({ ...v040, cniVersion: '7.0.0' }, '1.0.0', 'plugin x'),
      /plugin x: unsupported/,
    );
  });

  it('converts 0.2.0 results (ip4/ip6)', () => {
    const r = parseResult(
      {
        cniVersion: '0.2.0',
        ip4: { ip: '10.1.0.2/24', gateway: '10.1.0.1', routes: [{ dst: '0.0.0.0/0' }] },
        dns: { nameservers: ['1.1.1.1'] },
      },
      '0.2.0',
      'test',
    );
    assert.deepEqual(r.ips, [{ address: '10.1.0.2/24', gateway: '10.1.0.1' }]);
    assert.deepEqual(r.routes, [{ dst: '0.0.0.0/0' }]);
    assert.deepEqual(resultAs(r, '0.2.0'), {
      cniVersion: '0.2.0',
      ip4: { ip: '10.1.0.2/24', gateway: '10.1.0.1', routes: [{ dst: '0.0.0.0/0' }] },
      dns: { nameservers: ['1.1.1.1'] },
    });
  });

  it('rejects what is not a result', () => {
    for (const bad of [
      null,
      [],
      'x',
      { cniVersion: '1.0.0', ips: {} },
      { cniVersion: '1.0.0', ips: [{}] },
    ]) {
      assert.throws(() => parseResult(bad, '1.0.0', 'p'), isInvalidArgument);
    }
  });

  it('gives the pod IPs of the interface, IPv4 first, without prefix length', () => {
    const r = parseResult(v040, '1.0.0', 'test');
    assert.deepEqual(podIps(r, 'eth0'), [
      { address: '10.22.0.5', gateway: '10.22.0.1', interface: 'eth0' },
      { address: 'fd00::5', gateway: 'fd00::1', interface: 'eth0' },
    ]);
    assert.deepEqual(podIps(r, 'eth1'), []);
    // An address without an interface index belongs to the network's interface.
    assert.deepEqual(
      podIps(
        parseResult({ cniVersion: '1.0.0', ips: [{ address: '10.0.0.2/8' }] }, '1.0.0', 't'),
        'eth0',
      ),
      [{ address: '10.0.0.2', interface: 'eth0' }],
    );
  });
});
