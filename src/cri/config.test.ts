import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { parse } from 'smol-toml';
import { isInvalidArgument } from '../core/errdefs/index.js';
import type { Logger } from '../core/log/index.js';
import {
  CRI_PLUGIN_URI,
  type CriConfig,
  criConfig,
  DEFAULT_SANDBOX_IMAGE,
  parseGoDuration,
} from './config.js';

/** A logger that keeps its warnings' messages. */
function recording(): Logger & { warnings: string[] } {
  const warnings: string[] = [];
  const log = {
    warnings,
    trace() {},
    debug() {},
    info() {},
    warn(a: unknown, b?: string) {
      warnings.push(typeof a === 'string' ? a : (b ?? ''));
    },
    error() {},
    child: () => log,
  };
  return log;
}

function pluginTable(toml: string): Record<string, unknown> {
  const doc = parse(toml) as { plugins?: Record<string, Record<string, unknown>> };
  return doc.plugins?.[CRI_PLUGIN_URI] ?? {};
}

// The containerd 1.6 configuration of /work/shared/tools/cri-tools/README.md (critest 79/79).
const README_CONFIG = `
version = 2
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "registry.k8s.io/pause:3.6"
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  netns_mounts_under_state_dir = true
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        Root = "/run/test-state/runc"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "/path/to/net.d"
    max_conf_num = 1
  [plugins."io.containerd.grpc.v1.cri".registry]
    config_path = "/path/to/certs.d"
`;

describe('CRI config', () => {
  it("has containerd 1.6's defaults when the table is absent", () => {
    const log = recording();
    const c = criConfig({}, log);
    assert.equal(c.sandboxImage, DEFAULT_SANDBOX_IMAGE);
    assert.equal(c.sandboxImage, 'registry.k8s.io/pause:3.6');
    assert.equal(c.streamServerAddress, '127.0.0.1');
    assert.equal(c.streamServerPort, '0');
    assert.equal(c.streamIdleTimeoutMs, 4 * 3600_000);
    assert.equal(c.maxContainerLogLineSize, 16384);
    assert.equal(c.maxConcurrentDownloads, 3);
    assert.equal(c.statsCollectPeriod, 10);
    assert.equal(c.netnsMountsUnderStateDir, false);
    assert.equal(c.restrictOomScoreAdj, false);
    assert.equal(c.disableHugetlbController, true);
    assert.equal(c.tolerateMissingHugetlbController, true);
    assert.deepEqual(c.cni, {
      binDir: '/opt/cni/bin',
      confDir: '/etc/cni/net.d',
      maxConfNum: 1,
      confTemplate: '',
    });
    assert.equal(c.containerd.snapshotter, 'overlayfs');
    assert.equal(c.containerd.defaultRuntimeName, 'runc');
    assert.equal(c.containerd.runtimes.runc?.type, 'io.containerd.runc.v2');
    assert.equal(c.containerd.runtimes.runc?.root, '');
    assert.deepEqual(c.registry, { configPath: '', auths: {}, headers: {} });
    assert.deepEqual(log.warnings, []);
  });

  it("reads the README's containerd configuration to the values containerd uses", () => {
    const log = recording();
    const c = criConfig(pluginTable(README_CONFIG), log);
    assert.equal(c.sandboxImage, 'registry.k8s.io/pause:3.6');
    assert.equal(c.streamServerAddress, '127.0.0.1');
    assert.equal(c.streamServerPort, '0');
    assert.equal(c.netnsMountsUnderStateDir, true);
    assert.equal(c.restrictOomScoreAdj, true);
    assert.equal(c.containerd.snapshotter, 'overlayfs');
    assert.equal(c.containerd.defaultRuntimeName, 'runc');
    assert.deepEqual(Object.keys(c.containerd.runtimes), ['runc']);
    const runc = c.containerd.runtimes.runc;
    assert.equal(runc?.type, 'io.containerd.runc.v2');
    assert.equal(runc?.systemdCgroup, false);
    assert.equal(runc?.root, '/run/test-state/runc');
    assert.equal(runc?.binaryName, '');
    assert.deepEqual(runc?.options, { SystemdCgroup: false, Root: '/run/test-state/runc' });
    assert.deepEqual(c.cni, {
      binDir: '/usr/lib/cni',
      confDir: '/path/to/net.d',
      maxConfNum: 1,
      confTemplate: '',
    });
    assert.equal(c.registry.configPath, '/path/to/certs.d');
    assert.deepEqual(log.warnings, []);
  });

  it("accepts containerd 1.6.20's whole default CRI section quietly", () => {
    const text = readFileSync(
      new URL('./testdata/containerd-1.6.20-default.toml', import.meta.url),
      'utf8',
    );
    const log = recording();
    const c = criConfig(pluginTable(text), log);
    assert.deepEqual(log.warnings, []);
    assert.equal(c.sandboxImage, 'registry.k8s.io/pause:3.6');
    assert.equal(c.containerd.runtimes.runc?.type, 'io.containerd.runc.v2');
    assert.equal(c.containerd.runtimes.runc?.options.NoPivotRoot, false);
  });

  it('warns once about each unsupported setting and each unknown key', () => {
    const log = recording();
    criConfig(
      pluginTable(`
[plugins."io.containerd.grpc.v1.cri"]
  enable_selinux = true
  selinux_category_range = 512
  enable_tls_streaming = true
  no_such_key = 1
  [plugins."io.containerd.grpc.v1.cri".cni]
    ip_pref = "ipv6"
    what = "x"
`),
      log,
    );
    const has = (re: RegExp) => log.warnings.filter((w) => re.test(w)).length;
    assert.equal(has(/enable_selinux is not supported/), 1);
    assert.equal(has(/selinux_category_range is not supported/), 1);
    assert.equal(has(/enable_tls_streaming is not supported/), 1);
    assert.equal(has(/unknown key no_such_key/), 1);
    assert.equal(has(/cni\.ip_pref is not supported/), 1);
    assert.equal(has(/unknown key cni\.what/), 1);
    assert.equal(log.warnings.length, 6);
  });

  it('rejects a wrong type for a key berth uses, naming the key', () => {
    const cases: [string, RegExp][] = [
      ['sandbox_image = 3', /sandbox_image must be a string, not number 3/],
      ['stream_server_port = 10010', /stream_server_port must be a string/],
      ['stream_server_port = "http"', /stream_server_port must be a port number/],
      ['restrict_oom_score_adj = "yes"', /restrict_oom_score_adj must be true or false/],
      ['max_concurrent_downloads = 0', /max_concurrent_downloads must be an integer of at least 1/],
      ['stream_idle_timeout = "4 hours"', /stream_idle_timeout: invalid duration/],
      [
        '[plugins."io.containerd.grpc.v1.cri".cni]\nbin_dir = ["/a"]',
        /cni\.bin_dir must be a string/,
      ],
      [
        '[plugins."io.containerd.grpc.v1.cri".cni]\nconf_dir = "rel"',
        /cni\.conf_dir must be an absolute path/,
      ],
      [
        '[plugins."io.containerd.grpc.v1.cri".containerd]\ndefault_runtime_name = "kata"',
        /no containerd\.runtimes\.kata for default_runtime_name/,
      ],
      [
        '[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]\nSystemdCgroup = 1',
        /containerd\.runtimes\.runc\.options\.SystemdCgroup must be true or false/,
      ],
      [
        '[plugins."io.containerd.grpc.v1.cri".registry]\nconfig_path = "/d"\n[plugins."io.containerd.grpc.v1.cri".registry.mirrors."docker.io"]\nendpoint = ["http://x"]',
        /mirrors cannot be set when registry.config_path is provided/,
      ],
    ];
    for (const [body, re] of cases) {
      const toml = body.startsWith('[') ? body : `[plugins."io.containerd.grpc.v1.cri"]\n${body}`;
      assert.throws(
        () => criConfig(pluginTable(toml), recording()),
        (err: unknown) => isInvalidArgument(err) && re.test((err as Error).message),
        body,
      );
    }
  });

  it('reads registry credentials from auths and configs, keyed by host', () => {
    const log = recording();
    const c = criConfig(
      pluginTable(`
[plugins."io.containerd.grpc.v1.cri".registry.auths."https://reg.example:5000"]
  username = "u"
  password = "p"
[plugins."io.containerd.grpc.v1.cri".registry.configs."other.example".auth]
  auth = "dTpw"
[plugins."io.containerd.grpc.v1.cri".registry.headers]
  X-Meta = ["a", "b"]
`),
      log,
    );
    assert.deepEqual(c.registry.auths['reg.example:5000'], {
      username: 'u',
      password: 'p',
      auth: '',
      identityToken: '',
    });
    assert.equal(c.registry.auths['other.example']?.auth, 'dTpw');
    assert.deepEqual(c.registry.headers, { 'X-Meta': 'a, b' });
    assert.equal(log.warnings.filter((w) => /auths is deprecated/.test(w)).length, 1);
  });

  it('parses Go durations', () => {
    assert.equal(parseGoDuration('4h0m0s', 'x'), 4 * 3600_000);
    assert.equal(parseGoDuration('1.5h', 'x'), 5400_000);
    assert.equal(parseGoDuration('300ms', 'x'), 300);
    assert.equal(parseGoDuration('0', 'x'), 0);
    assert.throws(() => parseGoDuration('', 'x'), /invalid duration/);
    assert.throws(() => parseGoDuration('5', 'x'), /invalid duration/);
    assert.throws(() => parseGoDuration('5d', 'x'), /invalid duration/);
  });
});

describe('CRI config in berthd config default', () => {
  it("prints the plugin's defaults, which read back to the defaults without a warning", async () => {
    const { defaultConfigToml } = await import('../daemon/config.js');
    const { criDefaultToml } = await import('./config.js');
    assert.ok(defaultConfigToml().includes(criDefaultToml()));
    const log = recording();
    // The runc options are kept as written (the shim's own), so they are compared apart.
    const withoutOptions = (c: CriConfig) => ({
      ...c,
      containerd: {
        ...c.containerd,
        runtimes: Object.fromEntries(
          Object.entries(c.containerd.runtimes).map(([k, r]) => [k, { ...r, options: {} }]),
        ),
      },
    });
    const printed = criConfig(pluginTable(defaultConfigToml()), log);
    assert.deepEqual(withoutOptions(printed), withoutOptions(criConfig({}, recording())));
    assert.deepEqual(printed.containerd.runtimes.runc?.options, {
      SystemdCgroup: false,
      Root: '',
      BinaryName: '',
    });
    assert.deepEqual(log.warnings, []);
  });
});
