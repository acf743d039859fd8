/**
 * @module
 * The real host behind {@link SpecHost}, and the daemon facts a CRI plugin
 * reads once at start ({@link hostSpecFacts}).
 */
import { existsSync, readFileSync } from 'node:fs';
import { lstat, mkdir, readdir, readFile, realpath, stat } from 'node:fs/promises';
import { release } from 'node:os';
import { join } from 'node:path';
import { cgroupMode, parseMountInfo, runningInUserNS } from '../../sys/cgroup.js';
import { effectiveCapabilities } from './capabilities.js';
import { kernelVersionOf } from './platform.js';
import type { FileStat, SpecHost, SpecOptions } from './types.js';

/** Only ENOENT is "missing", as Go's os.IsNotExist: a path below a regular file (ENOTDIR) is an error. */
function isMissing(err: unknown): boolean {
  return (err as NodeJS.ErrnoException).code === 'ENOENT';
}

/** This machine, through node:fs. */
export const realSpecHost: SpecHost = {
  async lstat(path): Promise<FileStat | undefined> {
    try {
      const st = await lstat(path, { bigint: true });
      return { mode: Number(st.mode), rdev: st.rdev, uid: Number(st.uid), gid: Number(st.gid) };
    } catch (err) {
      if (isMissing(err)) return undefined;
      throw err;
    }
  },
  async isDirectory(path) {
    try {
      return (await stat(path)).isDirectory();
    } catch (err) {
      if (isMissing(err)) return undefined;
      throw err;
    }
  },
  readDir: (path) => readdir(path),
  realpath: (path) => realpath(path),
  async mkdirAll(path) {
    await mkdir(path, { recursive: true, mode: 0o755 });
  },
  readFile: (path) => readFile(path),
  mountInfo: () => readFile('/proc/self/mountinfo', 'utf8'),
};

/**
 * The facts about this daemon and machine that {@link SpecOptions} carries
 * (read once at plugin start): effective capabilities, oom_score_adj, the
 * cgroup layout and controllers, seccomp support, the kernel version.
 */
export function hostSpecFacts(): Pick<
  SpecOptions,
  | 'daemonCapabilities'
  | 'daemonOomScoreAdj'
  | 'cgroupV2'
  | 'seccompEnabled'
  | 'hugetlbAvailable'
  | 'swapControllerAvailable'
  | 'kernelVersion'
  | 'runningInUserNS'
> {
  const status = readFileSync('/proc/self/status', 'utf8');
  const mounts = parseMountInfo(readFileSync('/proc/self/mountinfo', 'utf8'));
  const v2 = cgroupMode(mounts).kind === 'unified';
  const kernel = kernelVersionOf(release());
  return {
    daemonCapabilities: effectiveCapabilities(status),
    daemonOomScoreAdj: Number(readFileSync('/proc/self/oom_score_adj', 'utf8').trim()),
    cgroupV2: v2,
    // the kernel has CONFIG_SECCOMP when status shows the mode (containerd probes prctl)
    seccompEnabled: /^Seccomp:/m.test(status),
    hugetlbAvailable: v2
      ? safeRead('/sys/fs/cgroup/cgroup.controllers').includes('hugetlb')
      : existsSync('/sys/fs/cgroup/hugetlb'),
    swapControllerAvailable: v2
      ? existsSync(join('/sys/fs/cgroup', ownUnifiedCgroup(), 'memory.swap.max'))
      : existsSync('/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes'),
    ...(kernel ? { kernelVersion: kernel } : {}),
    runningInUserNS: runningInUserNS(),
  };
}

function safeRead(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

/** This process's cgroup v2 path (the `0::` line of /proc/self/cgroup). */
function ownUnifiedCgroup(): string {
  const line = safeRead('/proc/self/cgroup')
    .split('\n')
    .find((l) => l.startsWith('0::'));
  return line ? line.slice(3) : '/';
}
