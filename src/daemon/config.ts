import { readFileSync } from 'node:fs';
import { isAbsolute } from 'node:path';
import { parse as parseToml } from 'smol-toml';
import { invalidArgument } from '../core/errdefs/index.js';
import { criDefaultToml } from '../cri/config.js';
import { RESTART_PLUGIN_URI, RESTART_PLUGIN_URI_1X } from '../restart/plugin.js';
import { DEFAULT_RUNTIME } from '../runtime/v2/plugin.js';
import { cgroupPathProblem } from '../sys/cgroup.js';
import { OOM_SCORE_ADJ_MAX, OOM_SCORE_ADJ_MIN } from '../sys/oom.js';
import { DEFAULT_REGISTRY_CONFIG_PATH } from '../transfer/defaults.js';
import { DEFAULTS, LOG_LEVELS, type LogLevel } from './defaults.js';

/**
 * berthd's configuration after flags, file and defaults are merged (flags
 * win). The file follows containerd's config.toml shape where they overlap:
 *
 * ```toml
 * version = 2
 * root = "/var/lib/berth"
 * state = "/run/berth"
 * disabled_plugins = []
 * oom_score = 0        # berthd's /proc/self/oom_score_adj; 0 leaves it as inherited
 * [cgroup]
 *   path = ""          # a cgroup to move berthd into at start, e.g. "berth"
 * [grpc]
 *   address = "/run/berth/berth.sock"
 *   uid = 0
 *   gid = 0
 *   max_recv_message_size = 16777216
 *   max_send_message_size = 16777216
 * [debug]
 *   level = "info"
 *   format = "json"   # or "text"; default: text on a terminal, else json
 * [plugins."io.containerd.metadata.v1.sqlite"]
 * [plugins."io.containerd.transfer.v1.local"]
 *   config_path = "/etc/berth/certs.d"   # registry hosts.toml files, <dir>/<host>/hosts.toml
 * [plugins."io.containerd.runtime.v2.task"]
 *   default_runtime = "io.containerd.berth.v1"   # tasks of containers that name no runtime
 *   shim_paths = {}    # runtime name → absolute shim path, instead of PATH (then berthd's bin/)
 *   shim_debug = false
 *   spare_shim = true  # keep one daemon of berth's shim ready for the next new group
 * [plugins."io.containerd.monitor.container.v1.restart"]  # or 1.x's "io.containerd.internal.v1.restart"
 *   interval = "10s"   # the restart monitor's full reconcile (src/restart)
 * [plugins."io.containerd.grpc.v1.cri"]  # Kubernetes' CRI, under containerd 1.6's names (src/cri/config.ts)
 * ```
 */
export interface Config {
  root: string;
  state: string;
  grpc: {
    address: string;
    uid: number;
    gid: number;
    maxRecvMessageSize: number;
    maxSendMessageSize: number;
  };
  debug: { level: LogLevel; format?: 'json' | 'text' };
  disabledPlugins: string[];
  /** oom_score_adj for berthd's process, -1000..1000; 0: leave it unchanged. */
  oomScore: number;
  /**
   * `path`: the cgroup berthd moves itself into at start, relative to each
   * hierarchy's mount (a leading "/" changes nothing); "": stay where started.
   */
  cgroup: { path: string };
  plugins: Record<string, Record<string, unknown>>;
  /** The file the config came from, if any. */
  source?: string;
}

export interface Flags {
  address?: string;
  root?: string;
  state?: string;
  config?: string;
  logLevel?: string;
}

/**
 * Loads the config named by `--config`, or the default path if it exists.
 * A file named explicitly must exist.
 */
export function loadConfig(flags: Flags): Config {
  const path = flags.config ?? DEFAULTS.config;
  let text: string | undefined;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    const missing = (err as NodeJS.ErrnoException).code === 'ENOENT';
    if (!missing || flags.config !== undefined) {
      throw invalidArgument(`config ${JSON.stringify(path)}: ${(err as Error).message}`, {
        cause: err,
      });
    }
  }
  const file = text === undefined ? {} : parseFile(path, text);
  return resolveConfig(flags, file, text === undefined ? undefined : path);
}

export function parseFile(path: string, text: string): Record<string, unknown> {
  try {
    return parseToml(text) as Record<string, unknown>;
  } catch (err) {
    throw invalidArgument(`config ${JSON.stringify(path)}: ${(err as Error).message}`, {
      cause: err,
    });
  }
}

export function resolveConfig(
  flags: Flags,
  file: Record<string, unknown>,
  source?: string,
): Config {
  const where = `config ${JSON.stringify(source ?? '<defaults>')}`;
  const version = file.version ?? 2;
  if (version !== 1 && version !== 2 && version !== 3) {
    throw invalidArgument(`${where}: unsupported version ${JSON.stringify(version)}`);
  }
  const grpc = table(file, 'grpc', where);
  const debug = table(file, 'debug', where);
  const cgroup = table(file, 'cgroup', where);
  const cfg: Config = {
    root: flags.root ?? str(file, 'root', where) ?? DEFAULTS.root,
    state: flags.state ?? str(file, 'state', where) ?? DEFAULTS.state,
    grpc: {
      address: flags.address ?? str(grpc, 'address', `${where} [grpc]`) ?? DEFAULTS.address,
      uid: int(grpc, 'uid', `${where} [grpc]`) ?? 0,
      gid: int(grpc, 'gid', `${where} [grpc]`) ?? 0,
      maxRecvMessageSize: int(grpc, 'max_recv_message_size', `${where} [grpc]`) ?? 16 << 20,
      maxSendMessageSize: int(grpc, 'max_send_message_size', `${where} [grpc]`) ?? 16 << 20,
    },
    debug: {
      level: logLevel(
        flags.logLevel ?? str(debug, 'level', `${where} [debug]`) ?? DEFAULTS.logLevel,
      ),
    },
    disabledPlugins: strList(file, 'disabled_plugins', where),
    oomScore: oomScore(file, where),
    cgroup: { path: cgroupPath(cgroup, `${where} [cgroup]`) },
    plugins: migratePlugins(
      table(file, 'plugins', where) as Record<string, Record<string, unknown>>,
    ),
    ...(source !== undefined && { source }),
  };
  const format = str(debug, 'format', `${where} [debug]`);
  if (format !== undefined && format !== '') {
    if (format !== 'json' && format !== 'text') {
      throw invalidArgument(
        `${where} [debug]: format must be "json" or "text", not ${JSON.stringify(format)}`,
      );
    }
    cfg.debug.format = format;
  }
  for (const [name, p] of [
    ['root', cfg.root],
    ['state', cfg.state],
    ['address', cfg.grpc.address],
  ] as const) {
    if (!isAbsolute(p))
      throw invalidArgument(`${name} ${JSON.stringify(p)} must be an absolute path`);
  }
  return cfg;
}

function logLevel(s: string): LogLevel {
  if (!(LOG_LEVELS as readonly string[]).includes(s)) {
    throw invalidArgument(
      `log level ${JSON.stringify(s)}: must be one of ${LOG_LEVELS.join(', ')}`,
    );
  }
  return s as LogLevel;
}

function oomScore(o: Record<string, unknown>, where: string): number {
  const v = o.oom_score;
  if (v === undefined) return 0;
  const n = typeof v === 'bigint' ? Number(v) : v;
  if (
    typeof n !== 'number' ||
    !Number.isInteger(n) ||
    n < OOM_SCORE_ADJ_MIN ||
    n > OOM_SCORE_ADJ_MAX
  ) {
    throw invalidArgument(
      `${where}: oom_score must be an integer from ${OOM_SCORE_ADJ_MIN} to ${OOM_SCORE_ADJ_MAX}, not ${String(v)}`,
    );
  }
  return n;
}

/** The path as written ("" when unset); checked here so a bad one stops berthd before it binds anything. */
function cgroupPath(o: Record<string, unknown>, where: string): string {
  const path = str(o, 'path', where) ?? '';
  if (path === '') return '';
  const problem = cgroupPathProblem(path);
  if (problem !== undefined) {
    throw invalidArgument(`${where}: path ${JSON.stringify(path)} ${problem}`);
  }
  return path;
}

function table(o: Record<string, unknown>, key: string, where: string): Record<string, unknown> {
  const v = o[key];
  if (v === undefined) return {};
  if (typeof v !== 'object' || v === null || Array.isArray(v)) {
    throw invalidArgument(`${where}: ${key} must be a table`);
  }
  return v as Record<string, unknown>;
}

function str(o: Record<string, unknown>, key: string, where: string): string | undefined {
  const v = o[key];
  if (v === undefined) return undefined;
  if (typeof v !== 'string') throw invalidArgument(`${where}: ${key} must be a string`);
  return v;
}

function int(o: Record<string, unknown>, key: string, where: string): number | undefined {
  const v = o[key];
  if (v === undefined) return undefined;
  const n = typeof v === 'bigint' ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 0) {
    throw invalidArgument(`${where}: ${key} must be a non-negative integer`);
  }
  return n;
}

function strList(o: Record<string, unknown>, key: string, where: string): string[] {
  const v = o[key];
  if (v === undefined) return [];
  if (!Array.isArray(v) || !v.every((x) => typeof x === 'string')) {
    throw invalidArgument(`${where}: ${key} must be a list of strings`);
  }
  return v as string[];
}

/**
 * Plugin tables under containerd 1.x's names of plugins berth registers
 * under containerd 2.x's (containerd 2.x's ConfigMigration): the restart
 * monitor's `io.containerd.internal.v1.restart`. A table under the new
 * name wins.
 */
function migratePlugins(
  plugins: Record<string, Record<string, unknown>>,
): Record<string, Record<string, unknown>> {
  const old = plugins[RESTART_PLUGIN_URI_1X];
  if (old === undefined) return plugins;
  const { [RESTART_PLUGIN_URI_1X]: _, ...rest } = plugins;
  return { ...rest, [RESTART_PLUGIN_URI]: plugins[RESTART_PLUGIN_URI] ?? old };
}

/** The default config as TOML, for `berthd config default`. */
export function defaultConfigToml(): string {
  return `version = 2
root = "${DEFAULTS.root}"
state = "${DEFAULTS.state}"
disabled_plugins = []
oom_score = 0

[cgroup]
  path = ""

[grpc]
  address = "${DEFAULTS.address}"
  uid = 0
  gid = 0
  max_recv_message_size = ${16 << 20}
  max_send_message_size = ${16 << 20}

[debug]
  level = "${DEFAULTS.logLevel}"
  format = ""

[plugins."io.containerd.transfer.v1.local"]
  config_path = "${DEFAULT_REGISTRY_CONFIG_PATH}"
  max_concurrent_downloads = 3
  max_concurrent_uploaded_layers = 3

[plugins."${RESTART_PLUGIN_URI}"]
  interval = "10s"

[plugins."io.containerd.runtime.v2.task"]
  default_runtime = "${DEFAULT_RUNTIME}"
  spare_shim = true

${criDefaultToml()}`;
}
