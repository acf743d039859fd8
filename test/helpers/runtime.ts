import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

/** This checkout's `bin/`: it holds `containerd-shim-berth-v1` once built (`npm run build`). */
export const REPO_BIN = join(resolve(import.meta.dirname, '../..'), 'bin');

/**
 * The environment for a daemon under test: this checkout's `bin/` first on
 * PATH (after `dirs`), so berthd and containerd alike find the checkout's
 * berth shim, never one installed elsewhere.
 */
export function daemonEnv(...dirs: string[]): NodeJS.ProcessEnv {
  const path = process.env.PATH ?? '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
  return { ...process.env, PATH: [...dirs, REPO_BIN, path].join(':') };
}

/** containerd's stock runc shim v2 runtime (`containerd-shim-runc-v2`, one process per container or group). */
export const RUNC_RUNTIME = 'io.containerd.runc.v2';
/** berth's own grouped shim (`containerd-shim-berth-v1`, one node process per group). */
export const BERTH_RUNTIME = 'io.containerd.berth.v1';

/** The shim binary containerd and berthd look up on PATH for each runtime. */
export const SHIM_BINARY: Readonly<Record<string, string>> = {
  [RUNC_RUNTIME]: 'containerd-shim-runc-v2',
  [BERTH_RUNTIME]: 'containerd-shim-berth-v1',
};

/** The annotation both shims group containers by (one shim process per value and namespace). */
export const GROUP_ANNOTATION = 'io.containerd.runc.v2.group';

/**
 * `BERTH_E2E_RUNTIME=io.containerd.berth.v1` runs the task end-to-end tests'
 * containers on that runtime: the ctr helpers (test/helpers/ctr.ts) add
 * `--runtime <it>` to every `ctr run` and `ctr containers create` that does
 * not name a runtime itself. Unset: each daemon's default runtime.
 */
export const RUNTIME_ENV = 'BERTH_E2E_RUNTIME';

export function e2eRuntime(): string | undefined {
  const v = process.env[RUNTIME_ENV];
  return v === undefined || v === '' ? undefined : v;
}

/** `, <runtime>` when BERTH_E2E_RUNTIME is set, for test titles: `tasks (berthd, io.containerd.berth.v1)`. */
export function runtimeLabel(): string {
  const r = e2eRuntime();
  return r === undefined ? '' : `, ${r}`;
}

const CONTAINER_COMMANDS = new Set(['containers', 'container', 'c']);

/**
 * `args` (ctr's, after the global flags) with `--runtime <runtime>` added
 * right after `run` or `containers create`, unless they already name one.
 */
export function withRuntimeFlag(args: string[], runtime: string | undefined): string[] {
  if (runtime === undefined) return args;
  let at: number;
  if (args[0] === 'run') at = 1;
  else if (CONTAINER_COMMANDS.has(args[0] ?? '') && args[1] === 'create') at = 2;
  else return args;
  if (args.some((a) => a === '--runtime' || a.startsWith('--runtime='))) return args;
  return [...args.slice(0, at), '--runtime', runtime, ...args.slice(at)];
}

/** The runtime a container was created with, from `ctr containers info <id>`'s JSON. */
export function runtimeOfInfo(infoJson: string): string {
  const info = JSON.parse(infoJson) as { Runtime?: { Name?: string } };
  const name = info.Runtime?.Name;
  if (name === undefined || name === '') throw new Error(`no Runtime.Name in ${infoJson}`);
  return name;
}

/** True when `pid`'s argv names the shim binary of `runtime` (argv[0] or, for node, its script). */
export function isShimOf(pid: number, runtime: string): boolean {
  const bin = SHIM_BINARY[runtime];
  if (bin === undefined) return false;
  let raw: string;
  try {
    raw = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
  } catch {
    return false;
  }
  // The berth shim is node (with flags) running dist/containerd-shim-berth-v1.cjs: its
  // name is in the first argument after node's own options.
  const argv = raw.split('\0');
  const script = argv.slice(1).find((a) => !a.startsWith('-'));
  return (argv[0] ?? '').includes(bin) || (script ?? '').includes(bin);
}
