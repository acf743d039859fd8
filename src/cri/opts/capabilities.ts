/**
 * @module
 * Capabilities from the CRI security context, as containerd 1.6 applies
 * them: `ALL` (any case) in add grants the daemon's own effective capabilities, `ALL`
 * in drop removes every one, then each named capability (CRI names have no
 * `CAP_` prefix; containerd adds one, so `CAP_CHOWN` would become
 * `CAP_CAP_CHOWN` there: berth accepts both spellings) is added to or
 * removed from the bounding, effective and permitted sets. Ambient sets are
 * always cleared.
 */
import type { Capability } from '../../api/k8s/cri/runtime/v1/api.js';
import { capabilitiesOf } from '../../core/oci/index.js';
import { capsOf } from './defaults.js';
import type { OciSpec } from './types.js';

export { KNOWN_CAPABILITIES } from '../../core/oci/index.js';

/**
 * The effective capabilities in /proc/<pid>/status text (containerd's
 * cap.Current()), in kernel order; bits past the known names are skipped.
 */
export function effectiveCapabilities(statusText: string): string[] {
  const line = statusText.split('\n').find((l) => l.startsWith('CapEff:'));
  if (!line) throw new Error('no CapEff line in the process status');
  return capabilitiesOf(BigInt(`0x${line.slice('CapEff:'.length).trim()}`));
}

/** `CAP_X` for a CRI capability name `x` or `CAP_X`. */
export function capName(name: string): string {
  const upper = name.toUpperCase();
  return upper.startsWith('CAP_') ? upper : `CAP_${upper}`;
}

function setAll(spec: OciSpec, caps: readonly string[]): void {
  const c = capsOf(spec);
  c.bounding = [...caps];
  c.effective = [...caps];
  c.permitted = [...caps];
}

const SETS = ['bounding', 'effective', 'permitted'] as const;

function add(spec: OciSpec, caps: readonly string[]): void {
  const c = capsOf(spec);
  for (const cap of caps) {
    for (const set of SETS) {
      const list = c[set] ?? [];
      if (!list.includes(cap)) list.push(cap);
      c[set] = list;
    }
  }
}

function drop(spec: OciSpec, caps: readonly string[]): void {
  const c = capsOf(spec);
  for (const cap of caps) {
    for (const set of SETS) {
      if (c[set]) c[set] = c[set].filter((x) => x !== cap);
    }
  }
}

/** Applies the security context's capability changes (containerd's customopts.WithCapabilities). */
export function applyCapabilities(
  spec: OciSpec,
  capabilities: Capability | undefined,
  daemonCaps: readonly string[],
): void {
  if (!capabilities) return;
  const isAll = (c: string) => c.toUpperCase() === 'ALL';
  if (capabilities.addCapabilities.some(isAll)) setAll(spec, daemonCaps);
  if (capabilities.dropCapabilities.some(isAll)) setAll(spec, []);
  add(spec, capabilities.addCapabilities.filter((c) => !isAll(c)).map(capName));
  drop(spec, capabilities.dropCapabilities.filter((c) => !isAll(c)).map(capName));
}

/** Every capability of the daemon (containerd's WithAllCurrentCapabilities, for privileged). */
export function grantAllCapabilities(spec: OciSpec, daemonCaps: readonly string[]): void {
  setAll(spec, daemonCaps);
}

/** No ambient capabilities (containerd's WithoutAmbientCaps). */
export function clearAmbient(spec: OciSpec): void {
  const c = capsOf(spec);
  delete c.ambient;
}
