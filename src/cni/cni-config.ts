import {
  failedPrecondition,
  invalidArgument,
  isBerthError,
  newError,
  notFound,
} from '../core/errdefs/index.js';
import { type Logger, nullLogger } from '../core/log/index.js';
import { ResultCache } from './cache.js';
import type { NetworkConfigList, PluginConf } from './conf.js';
import {
  type CniCommand,
  findPlugin,
  pluginConfig,
  pluginEnv,
  pluginFailure,
  type RuntimeConf,
  runPlugin,
  validateRuntimeConf,
} from './invoke.js';
import { type CniResult, parseResult } from './result.js';
import { versionAtLeast } from './version.js';

export interface CniConfigOptions {
  /** Where plugin binaries are looked up, in order (CNI_PATH). */
  binDirs: string[];
  /** The result cache's directory (berthd's state, never the host's /var/lib/cni). */
  cacheDir: string;
  /** The longest one plugin call may take before it is killed. */
  pluginTimeoutMs?: number;
  /** The environment plugins inherit (PATH finds iptables); CNI_* are set per call. */
  env?: NodeJS.ProcessEnv;
  log?: Logger;
}

export const DEFAULT_PLUGIN_TIMEOUT_MS = 60_000;

const VERB: Record<CniCommand, string> = { ADD: 'add', CHECK: 'check', DEL: 'delete' };

/**
 * Runs network lists (chains of plugins) per the CNI spec, with their
 * results cached: libcni's CNIConfig. ADD runs the plugins in order, each
 * given the previous one's result; DEL runs them in reverse with the cached
 * result; CHECK in order with the cached result.
 */
export class CniConfig {
  readonly cache: ResultCache;
  readonly binDirs: string[];
  private readonly timeoutMs: number;
  private readonly env: NodeJS.ProcessEnv;
  private readonly log: Logger;

  constructor(opts: CniConfigOptions) {
    this.binDirs = opts.binDirs;
    this.cache = new ResultCache(opts.cacheDir);
    this.timeoutMs = opts.pluginTimeoutMs ?? DEFAULT_PLUGIN_TIMEOUT_MS;
    this.env = opts.env ?? process.env;
    this.log = opts.log ?? nullLogger;
  }

  /**
   * ADD: returns the last plugin's result and caches it with the list and
   * the RuntimeConf used. On failure the cache keeps the list without a
   * result (the caller's DEL undoes what ran) and the error names the plugin.
   * `signal` kills the running plugin and stops the chain (canceled).
   */
  async addNetworkList(
    list: NetworkConfigList,
    rt: RuntimeConf,
    signal?: AbortSignal,
  ): Promise<CniResult> {
    validateRuntimeConf(rt);
    await this.cache.write({ network: list, rt });
    let result: CniResult | undefined;
    for (const plugin of list.plugins) {
      result = await this.exec('ADD', list, plugin, result, rt, signal);
    }
    if (result === undefined) throw invalidArgument(`network "${list.name}": no plugins`);
    await this.cache.write({ network: list, rt, result });
    return result;
  }

  /**
   * CHECK with the cached result (spec 0.4.0 and later; a list with
   * `disableCheck` passes). not_found when nothing is cached.
   */
  async checkNetworkList(
    list: NetworkConfigList,
    rt: RuntimeConf,
    cached: CniResult | undefined,
  ): Promise<void> {
    validateRuntimeConf(rt);
    if (!versionAtLeast(list.cniVersion, '0.4.0')) {
      throw failedPrecondition(
        `network "${list.name}": configuration version "${list.cniVersion}" does not support the CHECK command`,
      );
    }
    if (list.disableCheck) return;
    if (cached === undefined) {
      throw notFound(
        `network "${list.name}": no cached result for container "${rt.containerId}" on ${rt.ifName}`,
      );
    }
    for (const plugin of list.plugins) await this.exec('CHECK', list, plugin, cached, rt);
  }

  /**
   * DEL, plugins in reverse order, with `cached` as prevResult (spec 0.4.0
   * and later). Removes the cache entry once every plugin succeeded.
   */
  async delNetworkList(
    list: NetworkConfigList,
    rt: RuntimeConf,
    cached: CniResult | undefined,
  ): Promise<void> {
    validateRuntimeConf(rt);
    const prev = versionAtLeast(list.cniVersion, '0.4.0') ? cached : undefined;
    for (let i = list.plugins.length - 1; i >= 0; i--) {
      await this.exec('DEL', list, list.plugins[i] as PluginConf, prev, rt);
    }
    await this.cache.remove(list.name, rt.containerId, rt.ifName);
  }

  private async exec(
    command: CniCommand,
    list: NetworkConfigList,
    plugin: PluginConf,
    prevResult: CniResult | undefined,
    rt: RuntimeConf,
    signal?: AbortSignal,
  ): Promise<CniResult | undefined> {
    const what = `network "${list.name}": plugin type="${plugin.type}" failed (${VERB[command]})`;
    let path: string;
    try {
      path = findPlugin(plugin.type, this.binDirs);
    } catch (e) {
      if (!isBerthError(e)) throw e;
      throw newError(e.kind, `${what}: ${e.message}`, { cause: e });
    }
    const conf = pluginConfig(list, plugin, prevResult, rt);
    const env = pluginEnv(this.env, command, rt, this.binDirs);
    const started = performance.now();
    const r = await runPlugin(path, JSON.stringify(conf), env, this.timeoutMs, what, signal);
    this.log.debug(
      {
        network: list.name,
        plugin: plugin.type,
        command,
        container: rt.containerId,
        ifName: rt.ifName,
        ms: Math.round(performance.now() - started),
        ...(r.stderr.trim() ? { stderr: r.stderr.trim() } : {}),
      },
      'cni plugin call',
    );
    if (r.code !== 0) throw pluginFailure(what, r, r.stdout, r.stderr);
    if (command !== 'ADD') return undefined;
    let raw: unknown;
    try {
      raw = JSON.parse(r.stdout);
    } catch {
      throw invalidArgument(
        `${what}: its result is not JSON: ${JSON.stringify(r.stdout.slice(0, 4096))}`,
      );
    }
    return parseResult(raw, list.cniVersion, what);
  }
}
