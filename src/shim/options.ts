import { Options } from '../api/containerd/runc/options/oci.js';
import { optionsGroup } from './group.js';

/**
 * Runtime options of a container: containerd's runc `Options`
 * (`containerd.runc.v1.Options`) or berth's superset (the same fields and
 * numbers plus `string group = 100`); both decode here. Other option types
 * (or none) give the defaults.
 */
export interface ShimOptions {
  noPivotRoot: boolean;
  noNewKeyring: boolean;
  ioUid: number;
  ioGid: number;
  /** The runc binary; default `runc`. */
  binaryName: string;
  /** runc's state root; default {@link DEFAULT_RUNC_ROOT}. */
  root: string;
  criuPath: string;
  systemdCgroup: boolean;
  criuImagePath: string;
  criuWorkPath: string;
  shimCgroup: string;
  /** berth's default group ('' = namespace). */
  group: string;
}

/** Where the Go shim keeps runc's state unless the options name a root. */
export const DEFAULT_RUNC_ROOT = '/run/containerd/runc';

export interface AnyLike {
  typeUrl: string;
  value: Uint8Array;
}

/** The Options of an Any whose type is runc's or berth's (any `*.Options` of the same shape). */
export function decodeOptions(any: AnyLike | undefined): ShimOptions {
  const opts = defaultOptions();
  if (!any || any.value.length === 0 || !any.typeUrl.endsWith('.Options')) return opts;
  const o = Options.decode(any.value);
  return {
    noPivotRoot: o.noPivotRoot,
    noNewKeyring: o.noNewKeyring,
    ioUid: o.ioUid,
    ioGid: o.ioGid,
    binaryName: o.binaryName || opts.binaryName,
    root: o.root || opts.root,
    criuPath: o.criuPath,
    systemdCgroup: o.systemdCgroup,
    criuImagePath: o.criuImagePath,
    criuWorkPath: o.criuWorkPath,
    shimCgroup: o.shimCgroup,
    group: optionsGroup(any.value),
  };
}

export function defaultOptions(): ShimOptions {
  return {
    noPivotRoot: false,
    noNewKeyring: false,
    ioUid: 0,
    ioGid: 0,
    binaryName: 'runc',
    root: DEFAULT_RUNC_ROOT,
    criuPath: '',
    systemdCgroup: false,
    criuImagePath: '',
    criuWorkPath: '',
    shimCgroup: '',
    group: '',
  };
}

/**
 * What the bundle's `options.json` keeps for `delete` (whose shim is gone),
 * in the Go shim's JSON field names (it writes the same file).
 */
export function optionsJson(o: ShimOptions): string {
  return JSON.stringify({
    binary_name: o.binaryName,
    root: o.root,
    systemd_cgroup: o.systemdCgroup,
  });
}

/** Reads back {@link optionsJson} (or the Go shim's file); missing fields are defaults. */
export function parseOptionsJson(text: string): ShimOptions {
  const o = defaultOptions();
  let j: Record<string, unknown>;
  try {
    j = JSON.parse(text) as Record<string, unknown>;
  } catch {
    return o;
  }
  if (typeof j.binary_name === 'string' && j.binary_name) o.binaryName = j.binary_name;
  if (typeof j.root === 'string' && j.root) o.root = j.root;
  if (j.systemd_cgroup === true) o.systemdCgroup = true;
  return o;
}
