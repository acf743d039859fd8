/**
 * @module
 * Creating the spec's sections an option writes to when they are missing, as
 * containerd's setProcess, setRoot, setLinux and friends do (a new process
 * has uid 0, gid 0 and an empty cwd).
 */
import type { Linux, LinuxCapabilities, LinuxResources, Process, Root, Spec } from './types.js';

export function ensureProcess(spec: Spec): Process {
  spec.process ??= { user: { uid: 0, gid: 0 }, cwd: '' };
  return spec.process;
}

export function ensureRoot(spec: Spec): Root {
  spec.root ??= { path: '' };
  return spec.root;
}

export function ensureLinux(spec: Spec): Linux {
  spec.linux ??= {};
  return spec.linux;
}

export function ensureResources(spec: Spec): LinuxResources {
  const linux = ensureLinux(spec);
  linux.resources ??= {};
  return linux.resources;
}

export function ensureCapabilities(spec: Spec): LinuxCapabilities {
  const process = ensureProcess(spec);
  process.capabilities ??= {};
  return process.capabilities;
}

/**
 * Sets `obj[key]` to `list`, or removes the key when the list is empty: Go's
 * `omitempty` leaves empty lists out of the JSON, and so does berth.
 */
export function setList<T extends object, K extends keyof T>(
  obj: T,
  key: K,
  list: T[K] & readonly unknown[],
): void {
  if (list.length === 0) delete obj[key];
  else obj[key] = list;
}
