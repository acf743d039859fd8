/**
 * @module
 * The CRI plugin's configuration, read from berthd's config file under
 * containerd 1.6's names (config version 2, `[plugins."io.containerd.grpc.v1.cri"]`),
 * with containerd 1.6.20's defaults, so a containerd CRI configuration
 * carries over unchanged:
 *
 * ```toml
 * [plugins."io.containerd.grpc.v1.cri"]
 *   sandbox_image = "registry.k8s.io/pause:3.6"
 *   stream_server_address = "127.0.0.1"
 *   stream_server_port = "0"
 *   netns_mounts_under_state_dir = true
 *   restrict_oom_score_adj = true
 *   [plugins."io.containerd.grpc.v1.cri".containerd]
 *     snapshotter = "overlayfs"
 *     default_runtime_name = "runc"
 *     [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
 *       runtime_type = "io.containerd.runc.v2"
 *       [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
 *         SystemdCgroup = false
 *         Root = "/run/berth/runc"
 *   [plugins."io.containerd.grpc.v1.cri".cni]
 *     bin_dir = "/usr/lib/cni"
 *     conf_dir = "/etc/cni/net.d"
 *   [plugins."io.containerd.grpc.v1.cri".registry]
 *     config_path = "/etc/berth/certs.d"
 * ```
 *
 * Rules: a key berth uses with the wrong type is `invalid_argument` naming
 * the key; a key of containerd 1.6 that berth does not implement is
 * accepted, and warned about once when its value differs from containerd's
 * default (a value equal to the default changes nothing, so a pasted
 * `containerd config default` stays quiet); an unknown key is warned about
 * and ignored.
 */
import { isAbsolute } from 'node:path';
import { invalidArgument } from '../core/errdefs/index.js';
import type { Logger } from '../core/log/index.js';
import { parseGoDuration } from '../core/time/index.js';

export { parseGoDuration };

/** The plugin's URI: its table in the config file and its `disabled_plugins` name. */
export const CRI_PLUGIN_URI = 'io.containerd.grpc.v1.cri';

/** containerd 1.6.20's sandbox (pause) image. */
export const DEFAULT_SANDBOX_IMAGE = 'registry.k8s.io/pause:3.6';

/** A `containerd.runtimes.<name>` table. */
export interface CriRuntimeConfig {
  /** `runtime_type`: the runtime v2 shim, `io.containerd.runc.v2`. */
  type: string;
  /** The runc shim's options (`SystemdCgroup`, `Root`, `BinaryName`, …) as written. */
  options: Record<string, unknown>;
  /** `options.SystemdCgroup`. */
  systemdCgroup: boolean;
  /** `options.Root`: runc's state root ("" = the shim's default). */
  root: string;
  /** `options.BinaryName`: the runc binary ("" = `runc` on PATH). */
  binaryName: string;
  /** `privileged_without_host_devices`. */
  privilegedWithoutHostDevices: boolean;
  /** `pod_annotations` / `container_annotations`: annotation keys passed through to the OCI spec. */
  podAnnotations: string[];
  containerAnnotations: string[];
}

/** Credentials from `registry.auths` / `registry.configs.<host>.auth` (containerd's AuthConfig names). */
export interface RegistryAuth {
  username: string;
  password: string;
  auth: string;
  identityToken: string;
}

export interface CriConfig {
  sandboxImage: string;
  streamServerAddress: string;
  /** As containerd keeps it: a string ("0" = any free port). */
  streamServerPort: string;
  /** `stream_idle_timeout` (Go duration) in ms; 0 = none. */
  streamIdleTimeoutMs: number;
  enableTlsStreaming: boolean;
  maxContainerLogLineSize: number;
  netnsMountsUnderStateDir: boolean;
  restrictOomScoreAdj: boolean;
  disableCgroup: boolean;
  disableApparmor: boolean;
  disableProcMount: boolean;
  disableHugetlbController: boolean;
  tolerateMissingHugetlbController: boolean;
  deviceOwnershipFromSecurityContext: boolean;
  enableUnprivilegedPorts: boolean;
  enableUnprivilegedIcmp: boolean;
  /** `unset_seccomp_profile`: the profile of a container whose seccomp is unset. */
  unsetSeccompProfile: string;
  ignoreImageDefinedVolumes: boolean;
  maxConcurrentDownloads: number;
  /** `stats_collect_period`: seconds between measures of the snapshots' disk usage. */
  statsCollectPeriod: number;
  containerd: {
    snapshotter: string;
    defaultRuntimeName: string;
    runtimes: Record<string, CriRuntimeConfig>;
  };
  cni: { binDir: string; confDir: string; maxConfNum: number; confTemplate: string };
  registry: {
    /** hosts.toml directory (`<dir>/<host>/hosts.toml`); "" = none. */
    configPath: string;
    /** Credentials by registry host (`auths` and `configs.<host>.auth`), used when a pull brings none. */
    auths: Record<string, RegistryAuth>;
    /** Extra headers on every registry request. */
    headers: Record<string, string>;
  };
}

type Table = Record<string, unknown>;

/** A key's reader: checks its type, gives the value or the default. */
interface Reader {
  str(key: string, dflt: string): string;
  bool(key: string, dflt: boolean): boolean;
  int(key: string, dflt: number, min?: number): number;
  strList(key: string): string[];
  table(key: string): Table;
  /** Accepted and ignored: warns when the value is not containerd's default. */
  ignore(key: string, dflt: unknown, why?: string): void;
  /** Warns about every key not read. */
  rest(): void;
}

function reader(t: Table, where: string, log: Logger): Reader {
  const seen = new Set<string>();
  const name = (key: string) => (where === '' ? key : `${where}.${key}`);
  const bad = (key: string, want: string) =>
    invalidArgument(
      `plugins."${CRI_PLUGIN_URI}": ${name(key)} must be ${want}, not ${describe(t[key])}`,
    );
  const get = (key: string) => {
    seen.add(key);
    return t[key];
  };
  return {
    str(key, dflt) {
      const v = get(key);
      if (v === undefined) return dflt;
      if (typeof v !== 'string') throw bad(key, 'a string');
      return v;
    },
    bool(key, dflt) {
      const v = get(key);
      if (v === undefined) return dflt;
      if (typeof v !== 'boolean') throw bad(key, 'true or false');
      return v;
    },
    int(key, dflt, min = 0) {
      const v = get(key);
      if (v === undefined) return dflt;
      const n = typeof v === 'bigint' ? Number(v) : v;
      if (typeof n !== 'number' || !Number.isInteger(n) || n < min) {
        throw bad(
          key,
          min === Number.MIN_SAFE_INTEGER ? 'an integer' : `an integer of at least ${min}`,
        );
      }
      return n;
    },
    strList(key) {
      const v = get(key);
      if (v === undefined) return [];
      if (!Array.isArray(v) || !v.every((x) => typeof x === 'string')) {
        throw bad(key, 'a list of strings');
      }
      return v as string[];
    },
    table(key) {
      const v = get(key);
      if (v === undefined) return {};
      if (typeof v !== 'object' || v === null || Array.isArray(v)) throw bad(key, 'a table');
      return v as Table;
    },
    ignore(key, dflt, why) {
      const v = get(key);
      if (v === undefined || sameValue(v, dflt)) return;
      log.warn(
        { key: name(key), value: v },
        `CRI config: ${name(key)} is not supported by berth and is ignored${why ? ` (${why})` : ''}`,
      );
    },
    rest() {
      for (const key of Object.keys(t)) {
        if (!seen.has(key)) {
          log.warn({ key: name(key) }, `CRI config: unknown key ${name(key)} ignored`);
        }
      }
    },
  };
}

function describe(v: unknown): string {
  if (Array.isArray(v)) return 'a list';
  if (v === null) return 'null';
  if (typeof v === 'object') return 'a table';
  return `${typeof v} ${JSON.stringify(typeof v === 'bigint' ? String(v) : v)}`;
}

/**
 * Equal to containerd's default as `containerd config default` writes it:
 * tables compare key by key (a key absent from the default compares with its
 * type's zero value), lists by their items.
 */
function sameValue(v: unknown, dflt: unknown): boolean {
  if (typeof v === 'bigint') return Number(v) === dflt;
  if (Array.isArray(v)) {
    const d = Array.isArray(dflt) ? dflt : [];
    return v.length === d.length && v.every((x, i) => x === d[i]);
  }
  if (typeof v === 'object' && v !== null) {
    const d = (typeof dflt === 'object' && dflt !== null ? dflt : {}) as Table;
    return Object.entries(v).every(([k, x]) => sameValue(x, d[k] ?? emptyOf(x)));
  }
  return v === dflt;
}

/** The zero value of a TOML value's type (containerd's defaults for nested tables). */
function emptyOf(v: unknown): unknown {
  if (typeof v === 'string') return '';
  if (typeof v === 'boolean') return false;
  if (typeof v === 'number' || typeof v === 'bigint') return 0;
  return undefined;
}

function absolute(path: string, key: string, allowEmpty = false): string {
  if ((allowEmpty && path === '') || isAbsolute(path)) return path;
  throw invalidArgument(
    `plugins."${CRI_PLUGIN_URI}": ${key} must be an absolute path, not ${JSON.stringify(path)}`,
  );
}

/** The runtimes that containerd 1.6's `runtimes.<name>` tables may hold, read or ignored. */
function runtimeConfig(t: Table, where: string, log: Logger): CriRuntimeConfig {
  const r = reader(t, where, log);
  const options = r.table('options');
  const o = reader(options, `${where}.options`, log);
  const out: CriRuntimeConfig = {
    type: r.str('runtime_type', ''),
    options: { ...options },
    systemdCgroup: o.bool('SystemdCgroup', false),
    root: absolute(o.str('Root', ''), `${where}.options.Root`, true),
    binaryName: o.str('BinaryName', ''),
    privilegedWithoutHostDevices: r.bool('privileged_without_host_devices', false),
    podAnnotations: r.strList('pod_annotations'),
    containerAnnotations: r.strList('container_annotations'),
  };
  // The other runc options go to the shim as written (runc's own options).
  r.ignore('runtime_engine', '', 'runtime v1 only');
  r.ignore('runtime_root', '', 'runtime v1 only');
  r.ignore('runtime_path', '');
  r.ignore('base_runtime_spec', '');
  r.ignore('cni_conf_dir', '');
  r.ignore('cni_max_conf_num', 0);
  r.ignore('sandbox_mode', 'podsandbox');
  r.rest();
  return out;
}

/**
 * Reads the plugin's table (`ic.config`) into a {@link CriConfig},
 * warning on `log` about what berth accepts and ignores.
 */
export function criConfig(raw: Readonly<Table>, log: Logger): CriConfig {
  const r = reader(raw as Table, '', log);
  const sandboxImage = r.str('sandbox_image', DEFAULT_SANDBOX_IMAGE);
  const streamServerAddress = r.str('stream_server_address', '127.0.0.1');
  const streamServerPort = r.str('stream_server_port', '0');
  if (!/^\d+$/.test(streamServerPort) || Number(streamServerPort) > 65535) {
    throw invalidArgument(
      `plugins."${CRI_PLUGIN_URI}": stream_server_port must be a port number ("0" = any), not ${JSON.stringify(streamServerPort)}`,
    );
  }
  const idle = r.str('stream_idle_timeout', '4h0m0s');
  const cfg: CriConfig = {
    sandboxImage,
    streamServerAddress,
    streamServerPort,
    streamIdleTimeoutMs: parseGoDuration(idle, `plugins."${CRI_PLUGIN_URI}": stream_idle_timeout`),
    enableTlsStreaming: r.bool('enable_tls_streaming', false),
    // Non-positive: no limit (containerd).
    maxContainerLogLineSize: r.int('max_container_log_line_size', 16384, Number.MIN_SAFE_INTEGER),
    netnsMountsUnderStateDir: r.bool('netns_mounts_under_state_dir', false),
    restrictOomScoreAdj: r.bool('restrict_oom_score_adj', false),
    disableCgroup: r.bool('disable_cgroup', false),
    disableApparmor: r.bool('disable_apparmor', false),
    disableProcMount: r.bool('disable_proc_mount', false),
    disableHugetlbController: r.bool('disable_hugetlb_controller', true),
    tolerateMissingHugetlbController: r.bool('tolerate_missing_hugetlb_controller', true),
    deviceOwnershipFromSecurityContext: r.bool('device_ownership_from_security_context', false),
    enableUnprivilegedPorts: r.bool('enable_unprivileged_ports', false),
    enableUnprivilegedIcmp: r.bool('enable_unprivileged_icmp', false),
    unsetSeccompProfile: r.str('unset_seccomp_profile', ''),
    ignoreImageDefinedVolumes: r.bool('ignore_image_defined_volumes', false),
    maxConcurrentDownloads: r.int('max_concurrent_downloads', 3, 1),
    statsCollectPeriod: r.int('stats_collect_period', 10, 1),
    containerd: containerdSection(r.table('containerd'), log),
    cni: cniSection(r.table('cni'), log),
    registry: registrySection(r.table('registry'), log),
  };
  if (cfg.enableTlsStreaming) {
    log.warn(
      'CRI config: enable_tls_streaming is not supported by berth: the streaming server speaks plain HTTP',
    );
  }
  r.ignore('x509_key_pair_streaming', undefined, 'no TLS streaming');
  r.ignore('enable_selinux', false, 'berth does not label containers for SELinux');
  r.ignore('selinux_category_range', 1024, 'berth does not label containers for SELinux');
  r.ignore('disable_tcp_service', true, 'berth serves the CRI on its unix socket only');
  r.ignore('systemd_cgroup', false, 'deprecated; runc options.SystemdCgroup is read');
  r.ignore('image_decryption', { key_model: 'node' }, 'encrypted images are not supported');
  r.ignore('enable_cdi', false);
  r.ignore('cdi_spec_dirs', ['/etc/cdi', '/var/run/cdi']);
  r.ignore('image_pull_progress_timeout', '1m0s');
  r.ignore('drain_exec_sync_io_timeout', '0s');
  r.rest();
  return cfg;
}

function containerdSection(t: Table, log: Logger): CriConfig['containerd'] {
  const where = 'containerd';
  const r = reader(t, where, log);
  const snapshotter = r.str('snapshotter', 'overlayfs');
  const defaultRuntimeName = r.str('default_runtime_name', 'runc');
  const rawRuntimes = r.table('runtimes');
  const runtimes: Record<string, CriRuntimeConfig> = {};
  const given = Object.keys(rawRuntimes).length > 0;
  if (!given) {
    // containerd's default: runc through the runc v2 shim.
    runtimes.runc = runtimeConfig({ runtime_type: 'io.containerd.runc.v2' }, '', log);
  }
  for (const [name, v] of Object.entries(rawRuntimes)) {
    const at = `${where}.runtimes.${name}`;
    if (typeof v !== 'object' || v === null || Array.isArray(v)) {
      throw invalidArgument(`plugins."${CRI_PLUGIN_URI}": ${at} must be a table`);
    }
    const rt = runtimeConfig(v as Table, at, log);
    if (rt.type === '') {
      throw invalidArgument(`plugins."${CRI_PLUGIN_URI}": ${at}.runtime_type is required`);
    }
    runtimes[name] = rt;
  }
  if (defaultRuntimeName === '') {
    throw invalidArgument(`plugins."${CRI_PLUGIN_URI}": ${where}.default_runtime_name is empty`);
  }
  if (runtimes[defaultRuntimeName] === undefined) {
    throw invalidArgument(
      `plugins."${CRI_PLUGIN_URI}": no ${where}.runtimes.${defaultRuntimeName} for default_runtime_name = ${JSON.stringify(defaultRuntimeName)}`,
    );
  }
  r.ignore('no_pivot', false);
  r.ignore('disable_snapshot_annotations', true);
  r.ignore('discard_unpacked_layers', false);
  r.ignore('ignore_rdt_not_enabled_errors', false);
  r.ignore('default_runtime', undefined, 'deprecated; use default_runtime_name');
  r.ignore('untrusted_workload_runtime', undefined, 'deprecated');
  r.rest();
  return { snapshotter, defaultRuntimeName, runtimes };
}

function cniSection(t: Table, log: Logger): CriConfig['cni'] {
  const r = reader(t, 'cni', log);
  const out = {
    binDir: absolute(r.str('bin_dir', '/opt/cni/bin'), 'cni.bin_dir'),
    confDir: absolute(r.str('conf_dir', '/etc/cni/net.d'), 'cni.conf_dir'),
    maxConfNum: r.int('max_conf_num', 1),
    confTemplate: absolute(r.str('conf_template', ''), 'cni.conf_template', true),
  };
  r.ignore('ip_pref', '');
  r.ignore('setup_serially', false);
  r.rest();
  return out;
}

function authOf(t: Table, where: string, log: Logger): RegistryAuth {
  const r = reader(t, where, log);
  const out = {
    username: r.str('username', ''),
    password: r.str('password', ''),
    auth: r.str('auth', ''),
    identityToken: r.str('identitytoken', ''),
  };
  r.rest();
  return out;
}

/** `https://host:5000/v2` → `host:5000`; a bare host stays itself (containerd's auths keys). */
function hostOfEndpoint(endpoint: string): string {
  if (!endpoint.includes('://')) return endpoint;
  try {
    return new URL(endpoint).host;
  } catch (err) {
    throw invalidArgument(
      `plugins."${CRI_PLUGIN_URI}": registry.auths: bad registry URL ${JSON.stringify(endpoint)}`,
      { cause: err },
    );
  }
}

function registrySection(t: Table, log: Logger): CriConfig['registry'] {
  const r = reader(t, 'registry', log);
  const configPath = absolute(r.str('config_path', ''), 'registry.config_path', true);
  const auths: Record<string, RegistryAuth> = {};
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(r.table('headers'))) {
    if (!Array.isArray(v) || !v.every((x) => typeof x === 'string')) {
      throw invalidArgument(
        `plugins."${CRI_PLUGIN_URI}": registry.headers.${k} must be a list of strings`,
      );
    }
    if (v.length > 0) headers[k] = v.join(', ');
  }
  const mirrors = r.table('mirrors');
  if (Object.keys(mirrors).length > 0) {
    if (configPath !== '') {
      throw invalidArgument(
        `plugins."${CRI_PLUGIN_URI}": registry.mirrors cannot be set when registry.config_path is provided`,
      );
    }
    log.warn(
      'CRI config: registry.mirrors is deprecated and not supported by berth: use registry.config_path with hosts.toml files',
    );
  }
  for (const [host, v] of Object.entries(r.table('configs'))) {
    const at = `registry.configs.${host}`;
    if (typeof v !== 'object' || v === null || Array.isArray(v)) {
      throw invalidArgument(`plugins."${CRI_PLUGIN_URI}": ${at} must be a table`);
    }
    const c = reader(v as Table, at, log);
    const auth = c.table('auth');
    if (Object.keys(auth).length > 0) auths[host] = authOf(auth, `${at}.auth`, log);
    const tls = c.table('tls');
    if (Object.keys(tls).length > 0) {
      if (configPath !== '') {
        throw invalidArgument(
          `plugins."${CRI_PLUGIN_URI}": ${at}.tls cannot be set when registry.config_path is provided`,
        );
      }
      log.warn(
        { key: `${at}.tls` },
        'CRI config: registry.configs.*.tls is deprecated and not supported by berth: use hosts.toml files under registry.config_path',
      );
    }
    c.rest();
  }
  const rawAuths = r.table('auths');
  for (const [endpoint, v] of Object.entries(rawAuths)) {
    const at = `registry.auths.${endpoint}`;
    if (typeof v !== 'object' || v === null || Array.isArray(v)) {
      throw invalidArgument(`plugins."${CRI_PLUGIN_URI}": ${at} must be a table`);
    }
    auths[hostOfEndpoint(endpoint)] = authOf(v as Table, at, log);
  }
  if (Object.keys(rawAuths).length > 0) {
    log.warn('CRI config: registry.auths is deprecated: use image pull secrets');
  }
  r.rest();
  return { configPath, auths, headers };
}

/** The plugin's table with its defaults, as `berthd config default` prints it (containerd's names). */
export function criDefaultToml(): string {
  const t = `[plugins."${CRI_PLUGIN_URI}"`;
  return `${t}]
  sandbox_image = "${DEFAULT_SANDBOX_IMAGE}"
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  stream_idle_timeout = "4h0m0s"
  enable_tls_streaming = false
  max_container_log_line_size = 16384
  max_concurrent_downloads = 3
  stats_collect_period = 10
  netns_mounts_under_state_dir = false
  restrict_oom_score_adj = false
  disable_cgroup = false
  disable_apparmor = false
  disable_proc_mount = false
  disable_hugetlb_controller = true
  tolerate_missing_hugetlb_controller = true
  device_ownership_from_security_context = false
  enable_unprivileged_ports = false
  enable_unprivileged_icmp = false
  unset_seccomp_profile = ""
  ignore_image_defined_volumes = false
  ${t}.containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    ${t}.containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      ${t}.containerd.runtimes.runc.options]
        SystemdCgroup = false
        Root = ""
        BinaryName = ""
  ${t}.cni]
    bin_dir = "/opt/cni/bin"
    conf_dir = "/etc/cni/net.d"
    max_conf_num = 1
    conf_template = ""
  ${t}.registry]
    config_path = ""
`;
}
