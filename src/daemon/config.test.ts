import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { parse } from 'smol-toml';
import { tempDir } from '../../test/helpers/tmp.js';
import { isInvalidArgument } from '../core/errdefs/index.js';
import { RESTART_PLUGIN_URI, restartInterval } from '../restart/plugin.js';
import { configuredDefaultRuntime } from '../runtime/v2/plugin.js';
import { transferConfig } from '../transfer/plugin.js';
import { defaultConfigToml, loadConfig, resolveConfig } from './config.js';
import { DEFAULTS } from './defaults.js';

describe('config', () => {
  it('uses the defaults when nothing is given', () => {
    const c = resolveConfig({}, {});
    assert.equal(c.root, DEFAULTS.root);
    assert.equal(c.state, DEFAULTS.state);
    assert.equal(c.grpc.address, DEFAULTS.address);
    assert.equal(c.grpc.maxRecvMessageSize, 16 << 20);
    assert.equal(c.debug.level, 'info');
  });

  it('lets flags win over the file', () => {
    const file = parse(`
root = "/f/root"
state = "/f/state"
[grpc]
address = "/f/sock"
[debug]
level = "warn"
format = "json"
`) as Record<string, unknown>;
    const fromFile = resolveConfig({}, file);
    assert.deepEqual(
      [fromFile.root, fromFile.state, fromFile.grpc.address],
      ['/f/root', '/f/state', '/f/sock'],
    );
    assert.equal(fromFile.debug.level, 'warn');
    assert.equal(fromFile.debug.format, 'json');
    const flagged = resolveConfig(
      { root: '/r', state: '/s', address: '/a', logLevel: 'debug' },
      file,
    );
    assert.deepEqual([flagged.root, flagged.state, flagged.grpc.address], ['/r', '/s', '/a']);
    assert.equal(flagged.debug.level, 'debug');
  });

  it('rejects bad values with the place named', () => {
    const cases: [Record<string, unknown>, object, RegExp][] = [
      [{ version: 9 }, {}, /unsupported version 9/],
      [{ root: 5 }, {}, /root must be a string/],
      [{ grpc: { uid: -1 } }, {}, /\[grpc\]: uid must be a non-negative integer/],
      [{ debug: { format: 'xml' } }, {}, /format must be "json" or "text"/],
      [{ disabled_plugins: [1] }, {}, /disabled_plugins must be a list of strings/],
      [{}, { logLevel: 'loud' }, /log level "loud"/],
      [{}, { root: 'relative' }, /root "relative" must be an absolute path/],
    ];
    for (const [file, flags, re] of cases) {
      assert.throws(
        () => resolveConfig(flags, file),
        (e: Error) => isInvalidArgument(e) && re.test(e.message),
      );
    }
  });

  it('loads a file, and fails on a named file that is missing or malformed', () => {
    const dir = tempDir();
    try {
      const path = join(dir.path, 'c.toml');
      writeFileSync(path, 'root = "/x"\n');
      assert.equal(loadConfig({ config: path }).root, '/x');
      assert.throws(() => loadConfig({ config: join(dir.path, 'nope.toml') }), /nope\.toml/);
      writeFileSync(path, 'root = \n');
      assert.throws(
        () => loadConfig({ config: path }),
        (e: Error) => isInvalidArgument(e) && /c\.toml/.test(e.message),
      );
    } finally {
      dir.remove();
    }
  });

  it('prints a default config that parses back to the defaults', () => {
    const c = resolveConfig({}, parse(defaultConfigToml()) as Record<string, unknown>);
    // Plugin tables hold each plugin's defaults, which the plugin applies itself.
    const transfer = c.plugins['io.containerd.transfer.v1.local'] ?? {};
    assert.deepEqual(transferConfig(transfer), transferConfig({}));
    assert.equal(transferConfig(transfer).hostsDir, '/etc/berth/certs.d');
    assert.deepEqual({ ...c, plugins: {} }, resolveConfig({}, {}));
    assert.equal(c.oomScore, 0);
    assert.deepEqual(c.cgroup, { path: '' });
    const task = c.plugins['io.containerd.runtime.v2.task'] ?? {};
    assert.equal(configuredDefaultRuntime(task), configuredDefaultRuntime({}));
    assert.equal(task.default_runtime, 'io.containerd.berth.v1');
    assert.equal(task.spare_shim, true);
  });

  it("moves containerd 1.x's restart monitor table to the 2.x name the plugin has", () => {
    const old = resolveConfig(
      {},
      parse('[plugins."io.containerd.internal.v1.restart"]\ninterval = "3s"\n'),
    );
    assert.equal(restartInterval(old.plugins[RESTART_PLUGIN_URI]?.interval), 3000);
    assert.deepEqual(Object.keys(old.plugins), ['io.containerd.monitor.container.v1.restart']);
    const both = resolveConfig(
      {},
      parse(
        '[plugins."io.containerd.internal.v1.restart"]\ninterval = "3s"\n' +
          '[plugins."io.containerd.monitor.container.v1.restart"]\ninterval = "4s"\n',
      ),
    );
    assert.equal(both.plugins[RESTART_PLUGIN_URI]?.interval, '4s');
    const defaults = resolveConfig({}, parse(defaultConfigToml()) as Record<string, unknown>);
    assert.equal(restartInterval(defaults.plugins[RESTART_PLUGIN_URI]?.interval), 10_000);
    assert.equal(restartInterval(undefined), 10_000);
    assert.throws(() => restartInterval('ten'), /invalid duration "ten"/);
  });

  it('reads [cgroup] path and oom_score as containerd writes them', () => {
    const c = resolveConfig(
      {},
      parse(`
version = 2
oom_score = -999
[cgroup]
  path = "berth/daemon"
`) as Record<string, unknown>,
    );
    assert.equal(c.oomScore, -999);
    assert.equal(c.cgroup.path, 'berth/daemon');
    for (const path of ['/berth', 'a/b/c', '/', 'with.dots..inside']) {
      assert.equal(resolveConfig({}, { cgroup: { path } }).cgroup.path, path);
    }
    for (const score of [-1000, 1000, 0]) {
      assert.equal(resolveConfig({}, { oom_score: score }).oomScore, score);
    }
  });

  it('rejects a bad [cgroup] path or oom_score, naming the key', () => {
    const cases: [Record<string, unknown>, RegExp][] = [
      [
        { cgroup: { path: '../escape' } },
        /\[cgroup\]: path "\.\.\/escape" must not have "\.\." components/,
      ],
      [{ cgroup: { path: '/a/../../b' } }, /\[cgroup\]: path "\/a\/\.\.\/\.\.\/b" must not have/],
      [{ cgroup: { path: 'a/..' } }, /\[cgroup\]: path "a\/\.\." must not have/],
      [{ cgroup: { path: 'a\0b' } }, /\[cgroup\]: path .* must not contain NUL/],
      [{ cgroup: { path: 7 } }, /\[cgroup\]: path must be a string/],
      [{ cgroup: 'berth' }, /cgroup must be a table/],
      [{ oom_score: 1001 }, /oom_score must be an integer from -1000 to 1000, not 1001/],
      [{ oom_score: -1001 }, /oom_score must be an integer from -1000 to 1000, not -1001/],
      [{ oom_score: 1.5 }, /oom_score must be an integer/],
      [{ oom_score: '10' }, /oom_score must be an integer/],
    ];
    for (const [file, re] of cases) {
      assert.throws(
        () => resolveConfig({}, file),
        (e: Error) => isInvalidArgument(e) && re.test(e.message),
        `${JSON.stringify(file)} should fail with ${re}`,
      );
    }
  });
});
