import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { hasKind, isFailedPrecondition, isNotFound, isUnavailable } from '../core/errdefs/index.js';
import { parseConfList } from './conf.js';
import { pluginConfig, pluginEnv, pluginFailure, type RuntimeConf } from './invoke.js';

const rt: RuntimeConf = {
  containerId: 'c1',
  netns: '/run/ns/x',
  ifName: 'eth0',
  args: [
    ['IgnoreUnknown', '1'],
    ['K8S_POD_NAME', 'p'],
  ],
  capabilityArgs: {
    portMappings: [{ hostPort: 1, containerPort: 2, protocol: 'tcp' }],
    ips: ['10.0.0.9/24'],
  },
};

describe('cni plugin invocation', () => {
  it("builds the environment over the daemon's, dropping its own CNI_* variables", () => {
    const env = pluginEnv(
      { PATH: '/usr/bin', CNI_NETNS: '/stale', CNI_FOO: 'x', HOME: '/root' },
      'DEL',
      rt,
      ['/a', '/b'],
    );
    assert.deepEqual(env, {
      PATH: '/usr/bin',
      HOME: '/root',
      CNI_COMMAND: 'DEL',
      CNI_CONTAINERID: 'c1',
      CNI_NETNS: '/run/ns/x',
      CNI_IFNAME: 'eth0',
      CNI_ARGS: 'IgnoreUnknown=1;K8S_POD_NAME=p',
      CNI_PATH: '/a:/b',
    });
  });

  it('overrides name and cniVersion and offers only declared, enabled capabilities', () => {
    const list = parseConfList(
      JSON.stringify({
        cniVersion: '0.4.0',
        name: 'net',
        plugins: [
          {
            type: 'x',
            name: 'other',
            cniVersion: '0.1.0',
            capabilities: { ips: true, portMappings: false, dns: true },
          },
        ],
      }),
      'mem',
    );
    const conf = pluginConfig(list, list.plugins[0] as never, undefined, rt);
    assert.equal(conf.name, 'net');
    assert.equal(conf.cniVersion, '0.4.0');
    assert.deepEqual(conf.runtimeConfig, { ips: ['10.0.0.9/24'] });
    const none = pluginConfig(list, { type: 'y' }, undefined, rt);
    assert.equal('runtimeConfig' in none, false);
  });

  it('turns CNI error objects and crashes into errors of the right kind', () => {
    const exit = { code: 1, signal: null };
    const e1 = pluginFailure(
      'p',
      exit,
      '{"cniVersion":"1.0.0","code":11,"msg":"later","details":"locked"}',
      '',
    );
    assert.ok(isUnavailable(e1));
    assert.equal(e1.message, 'p: later; locked');
    assert.ok(isNotFound(pluginFailure('p', exit, '{"code":3,"msg":"gone"}', '')));
    assert.ok(isFailedPrecondition(pluginFailure('p', exit, '{"code":1,"msg":"version"}', '')));
    assert.ok(hasKind(pluginFailure('p', exit, '{"code":999,"msg":"custom"}', ''), 'unknown'));
    assert.equal(
      pluginFailure('p', exit, 'plain', '').message,
      'p: exit status 1, and its diagnostic message is not a CNI error: "plain"',
    );
    assert.equal(
      pluginFailure('p', { code: null, signal: 'SIGSEGV' }, '', '').message,
      'p: killed by SIGSEGV with no error message',
    );
  });
});
