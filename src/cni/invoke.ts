import { statSync } from 'node:fs';
import { join } from 'node:path';
import {
  type BerthError,
  canceled,
  deadlineExceeded,
  failedPrecondition,
  invalidArgument,
  notFound,
  unavailable,
  unknown,
} from '../core/errdefs/index.js';
import { type SpawnedChild, spawnDetached } from '../sys/spawn.js';
import type { NetworkConfigList, PluginConf } from './conf.js';
import type { CniResult } from './result.js';
import { resultAs } from './result.js';

export type CniCommand = 'ADD' | 'CHECK' | 'DEL';

/** What a plugin call is about: libcni's RuntimeConf. */
export interface RuntimeConf {
  containerId: string;
  /** The netns path; "" when it is gone (DEL only). */
  netns: string;
  ifName: string;
  /** CNI_ARGS, in order. */
  args: [string, string][];
  /** Offered to plugins that declare the capability, under `runtimeConfig`. */
  capabilityArgs: Record<string, unknown>;
}

const ID = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;

/** Checks a RuntimeConf as libcni's utils do before any plugin runs. */
export function validateRuntimeConf(rt: RuntimeConf): void {
  if (!ID.test(rt.containerId)) {
    throw invalidArgument(`cni: invalid container id ${JSON.stringify(rt.containerId)}`);
  }
  const n = rt.ifName;
  if (n === '' || n.length > 15 || n === '.' || n === '..' || /[/:\s]/.test(n)) {
    throw invalidArgument(`cni: invalid interface name ${JSON.stringify(n)}`);
  }
  for (const [k, v] of rt.args) {
    if (k === '' || /[=;]/.test(k) || v.includes(';')) {
      throw invalidArgument(`cni: invalid CNI_ARGS entry ${JSON.stringify(`${k}=${v}`)}`);
    }
  }
}

/**
 * The plugin binary for `type`: the first regular file of that name in
 * `binDirs`, as libcni's FindInPath.
 */
export function findPlugin(type: string, binDirs: readonly string[]): string {
  if (type.includes('/')) throw invalidArgument(`cni: invalid plugin name ${JSON.stringify(type)}`);
  for (const dir of binDirs) {
    const path = join(dir, type);
    try {
      if (statSync(path).isFile()) return path;
    } catch {
      // Not in this dir.
    }
  }
  throw notFound(`failed to find plugin ${JSON.stringify(type)} in path [${binDirs.join(' ')}]`);
}

/**
 * The environment of a plugin call: `base` without any CNI_* variable of
 * its own, plus the call's CNI_* variables (the spec's protocol parameters).
 */
export function pluginEnv(
  base: NodeJS.ProcessEnv,
  command: CniCommand,
  rt: RuntimeConf,
  binDirs: readonly string[],
): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(base)) {
    if (v !== undefined && !k.startsWith('CNI_')) env[k] = v;
  }
  env.CNI_COMMAND = command;
  env.CNI_CONTAINERID = rt.containerId;
  env.CNI_NETNS = rt.netns;
  env.CNI_IFNAME = rt.ifName;
  env.CNI_ARGS = rt.args.map(([k, v]) => `${k}=${v}`).join(';');
  env.CNI_PATH = binDirs.join(':');
  return env;
}

/**
 * The configuration a plugin reads on stdin: its own object with the
 * network's `name` and `cniVersion`, `prevResult` (in the network's version)
 * when there is one, and `runtimeConfig` holding the capability arguments it
 * declares in `capabilities` (as libcni's buildOneConfig).
 */
export function pluginConfig(
  list: NetworkConfigList,
  plugin: PluginConf,
  prevResult: CniResult | undefined,
  rt: RuntimeConf,
): Record<string, unknown> {
  const conf: Record<string, unknown> = { ...plugin, name: list.name, cniVersion: list.cniVersion };
  if (prevResult !== undefined) conf.prevResult = resultAs(prevResult, list.cniVersion);
  const runtimeConfig: Record<string, unknown> = {};
  for (const [cap, on] of Object.entries(plugin.capabilities ?? {})) {
    if (on && rt.capabilityArgs[cap] !== undefined) runtimeConfig[cap] = rt.capabilityArgs[cap];
  }
  if (Object.keys(runtimeConfig).length > 0) conf.runtimeConfig = runtimeConfig;
  return conf;
}

/** A CNI error object, as a failing plugin prints it on stdout. */
export interface CniErrorObject {
  code: number;
  msg: string;
  details?: string;
}

/** The errdefs kind for a CNI error code (spec "Error codes"). */
function errorFor(code: number): (m: string) => BerthError {
  switch (code) {
    case 1: // incompatible CNI version
    case 2: // unsupported field in network configuration
      return failedPrecondition;
    case 3: // container unknown or does not exist
      return notFound;
    case 4: // invalid necessary environment variables
    case 6: // failed to decode content
    case 7: // invalid network config
      return invalidArgument;
    case 11: // try again later
      return unavailable;
    default:
      return unknown;
  }
}

/**
 * The error a failed plugin call reports: its CNI error object (`msg; details`)
 * when stdout holds one, else what it wrote on stderr, as libcni's pluginErr.
 */
export function pluginFailure(
  what: string,
  exit: { code: number | null; signal: string | null },
  stdout: string,
  stderr: string,
): BerthError {
  const how = exit.signal ? `killed by ${exit.signal}` : `exit status ${exit.code}`;
  const out = stdout.trim();
  if (out) {
    let obj: Partial<CniErrorObject> | undefined;
    try {
      obj = JSON.parse(out);
    } catch {
      obj = undefined;
    }
    if (obj && typeof obj === 'object' && typeof obj.msg === 'string') {
      const code = typeof obj.code === 'number' ? obj.code : 0;
      const text = obj.details ? `${obj.msg}; ${obj.details}` : obj.msg;
      return errorFor(code)(`${what}: ${text}`);
    }
    return unknown(
      `${what}: ${how}, and its diagnostic message is not a CNI error: ${JSON.stringify(out.slice(0, 4096))}`,
    );
  }
  const err = stderr.trim();
  return unknown(
    err
      ? `${what}: ${how}: ${JSON.stringify(err.slice(0, 4096))}`
      : `${what}: ${how} with no error message`,
  );
}

export interface PluginRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

const MAX_STDOUT = 1 << 20;
const MAX_STDERR = 1 << 16;

/**
 * Runs one plugin binary with `stdin` and `env`, in a session of its own,
 * and answers once it has exited and closed its output. After `timeoutMs`
 * it is killed (SIGKILL, by pid) and the call fails with deadline_exceeded;
 * if `signal` aborts first, it is killed the same way and the call fails
 * with canceled.
 */
export function runPlugin(
  path: string,
  stdin: string,
  env: Record<string, string>,
  timeoutMs: number,
  what: string,
  signal?: AbortSignal,
): Promise<PluginRun> {
  if (signal?.aborted) return Promise.reject(canceled(`${what}: canceled`));
  let child: SpawnedChild;
  try {
    child = spawnDetached(path, [], { cwd: '/', env });
  } catch (e) {
    return Promise.reject(
      unknown(`${what}: cannot run ${path}: ${(e as Error).message}`, { cause: e }),
    );
  }
  const collect = (s: NodeJS.ReadableStream & NodeJS.EventEmitter, max: number) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const done = new Promise<string>((resolve) => {
      s.on('data', (b: Buffer) => {
        if (size < max) chunks.push(b.subarray(0, max - size));
        size += b.length;
      });
      s.on('error', () => {});
      s.on('close', () => resolve(Buffer.concat(chunks).toString('utf8')));
    });
    return done;
  };
  const out = collect(child.stdout, MAX_STDOUT);
  const err = collect(child.stderr, MAX_STDERR);
  child.stdin.on('error', () => {
    // A plugin that does not read its config (loopback DEL) may exit first.
  });
  child.stdin.end(stdin);
  return new Promise((resolve, reject) => {
    const stop = (e: Error) => {
      child.kill('SIGKILL');
      child.stdout.destroy();
      child.stderr.destroy();
      reject(e);
    };
    const onAbort = () => stop(canceled(`${what}: canceled (killed pid ${child.pid})`));
    const timer = setTimeout(
      () =>
        stop(
          deadlineExceeded(`${what}: no answer within ${timeoutMs} ms (killed pid ${child.pid})`),
        ),
      timeoutMs,
    );
    signal?.addEventListener('abort', onAbort, { once: true });
    void Promise.all([child.exited, out, err]).then(([exit, stdout, stderr]) => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      resolve({ code: exit.code, signal: exit.signal, stdout, stderr });
    });
  });
}
