import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DEFAULT_NETWORK_FLAGS, hookArgs, networkFlagsFromEnv, parseHookArgs } from './flags.js';

describe('network flags', () => {
  it('defaults, overridden by the environment', () => {
    assert.deepEqual(networkFlagsFromEnv({}), {
      dataRoot: '/var/lib/berth-cli',
      cniPath: '/usr/lib/cni',
      cniConfDir: '/etc/berth/cni/net.d',
    });
    assert.deepEqual(
      networkFlagsFromEnv({
        BERTH_DATA_ROOT: '/d',
        BERTH_CNI_PATH: '/a:/b',
        BERTH_CNI_NETCONFPATH: '/c',
      }),
      { dataRoot: '/d', cniPath: '/a:/b', cniConfDir: '/c' },
    );
  });

  it('round-trips through the hook arguments, paths with spaces and = included', () => {
    const flags = {
      dataRoot: '/tmp/x y/data',
      cniPath: '/opt/cni/bin:/usr/lib/cni',
      cniConfDir: '/etc/a=b',
    };
    const args = hookArgs(flags, 'ns-1');
    assert.deepEqual(parseHookArgs(args), { flags: { ...flags, namespace: 'ns-1' }, rest: [] });
    assert.deepEqual(parseHookArgs(['--debug', ...args, 'x']).rest, ['--debug', 'x']);
    assert.deepEqual(
      parseHookArgs(['--namespace=n', '--data-root=/d', '--cni-path', '/p', '--cni-netconfpath=/c'])
        .flags,
      { namespace: 'n', dataRoot: '/d', cniPath: '/p', cniConfDir: '/c' },
    );
  });

  it('a hook never falls back to defaults: every flag is required', () => {
    const args = hookArgs(DEFAULT_NETWORK_FLAGS, 'default');
    assert.throws(() => parseHookArgs(args.slice(2)), /oci hook: missing --data-root/);
    assert.throws(() => parseHookArgs([...args.slice(0, 7)]), /--namespace needs a value/);
  });
});
