/**
 * @module
 * The machine facts the default seccomp profile depends on.
 */
import { release } from 'node:os';
import type { SeccompPlatform } from './seccomp-default.js';
import type { SpecOptions } from './types.js';

/** The seccomp platform facts of the options; by default this process's arch and the running kernel. */
export function platformOf(options: SpecOptions): SeccompPlatform {
  const kernel = options.kernelVersion ?? kernelVersionOf(release());
  return { arch: options.arch ?? process.arch, ...(kernel ? { kernel } : {}) };
}

/** `major.minor` of a kernel release string (`6.1.0-18-amd64`); undefined when it does not parse. */
export function kernelVersionOf(rel: string): { major: number; minor: number } | undefined {
  const m = /^(\d+)\.(\d+)/.exec(rel);
  return m ? { major: Number(m[1]), minor: Number(m[2]) } : undefined;
}
