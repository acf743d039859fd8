import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { join, posix } from 'node:path';
import { failedPrecondition, invalidArgument } from '../core/errdefs/index.js';

/**
 * Moving a process into a cgroup, as containerd 1.6 does for its own
 * `[cgroup] path`: on a unified (v2-only) host one directory under the
 * cgroup2 mount; otherwise the same path in every cgroup v1 hierarchy that
 * containerd's cgroups library (cgroups.V1) manages. On hybrid hosts the
 * cgroup2 tree beside the v1 hierarchies is left alone, as containerd does.
 */

/** One line of /proc/self/mountinfo, the fields this module needs. */
export interface MountInfo {
  /** major:minor of the filesystem: the same for every mount of one cgroup hierarchy. */
  dev: string;
  /** The directory of the filesystem this mount shows. */
  root: string;
  mountPoint: string;
  fsType: string;
  superOptions: string[];
}

/** A cgroup v1 hierarchy: where it is mounted and what it controls (`name=systemd` for named ones). */
export interface V1Hierarchy {
  mountPoint: string;
  controllers: string[];
}

export type CgroupMode =
  | { kind: 'unified'; mountPoint: string }
  | { kind: 'v1' }
  | { kind: 'none' };

/**
 * The v1 controllers containerd's cgroups library (v1.0.4, containerd 1.6)
 * creates a cgroup in, when mounted: devices only outside a user namespace
 * (it cannot be written there), hugetlb only when the kernel has huge pages.
 * Other named hierarchies and newer controllers (misc) are not its own.
 */
const CONTAINERD_V1 = [
  'name=systemd',
  'freezer',
  'pids',
  'net_cls',
  'net_prio',
  'perf_event',
  'cpuset',
  'cpu',
  'cpuacct',
  'memory',
  'blkio',
  'rdma',
];

const UNIFIED_MOUNT = '/sys/fs/cgroup';

/** Parses /proc/self/mountinfo text (proc(5)); mount points and roots have their octal escapes decoded. */
export function parseMountInfo(text: string): MountInfo[] {
  const out: MountInfo[] = [];
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const sep = line.indexOf(' - ');
    if (sep < 0) continue;
    const fields = line.slice(0, sep).split(' ');
    const post = line.slice(sep + 3).split(' ');
    if (fields.length < 6 || post.length < 3) continue;
    out.push({
      dev: fields[2] ?? '',
      root: unescapeMountField(fields[3] ?? ''),
      mountPoint: unescapeMountField(fields[4] ?? ''),
      fsType: post[0] ?? '',
      superOptions: (post[2] ?? '').split(','),
    });
  }
  return out;
}

function unescapeMountField(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, oct: string) =>
    String.fromCharCode(Number.parseInt(oct, 8)),
  );
}

/**
 * Which cgroup layout the mounts show. Unified when a cgroup2 is mounted on
 * /sys/fs/cgroup itself (what containerd's cgroups.Mode() checks with
 * statfs); v1 when any v1 hierarchy is mounted (hybrid included).
 */
export function cgroupMode(mounts: MountInfo[]): CgroupMode {
  // The last mount on a path is the one visible there.
  const top = mounts.filter((m) => m.mountPoint === UNIFIED_MOUNT).at(-1);
  if (top?.fsType === 'cgroup2') return { kind: 'unified', mountPoint: UNIFIED_MOUNT };
  if (mounts.some((m) => m.fsType === 'cgroup')) return { kind: 'v1' };
  return { kind: 'none' };
}

/**
 * The v1 hierarchies containerd would put its own cgroup in, in mount order,
 * each once (a hierarchy mounted twice keeps its first mount point).
 */
export function v1Hierarchies(
  mounts: MountInfo[],
  env: { inUserNS: boolean; hugetlb: boolean },
): V1Hierarchy[] {
  const wanted = new Set(CONTAINERD_V1);
  if (!env.inUserNS) wanted.add('devices');
  if (env.hugetlb) wanted.add('hugetlb');
  const seen = new Set<string>();
  const out: V1Hierarchy[] = [];
  for (const m of mounts) {
    if (m.fsType !== 'cgroup' || seen.has(m.dev)) continue;
    const controllers = m.superOptions.filter((o) => wanted.has(o));
    if (controllers.length === 0) continue;
    seen.add(m.dev);
    out.push({ mountPoint: m.mountPoint, controllers });
  }
  return out;
}

/**
 * What is wrong with a cgroup path from configuration, if anything. Relative
 * and absolute paths are both fine (they name the same cgroup under each
 * hierarchy's mount); `..` components and NUL are not.
 */
export function cgroupPathProblem(path: string): string | undefined {
  if (path === '') return 'must not be empty';
  if (path.includes('\0')) return 'must not contain NUL';
  if (path.split('/').includes('..')) return 'must not have ".." components';
  return undefined;
}

/** Checks `path` ({@link cgroupPathProblem}) and returns it relative and normalized ("" for the root cgroup). */
export function cleanCgroupPath(path: string): string {
  const problem = cgroupPathProblem(path);
  if (problem !== undefined)
    throw invalidArgument(`cgroup path ${JSON.stringify(path)} ${problem}`);
  return posix.normalize(`/${path}`).replace(/^\/+|\/+$/g, '');
}

/** Whether this process runs in a user namespace other than the initial one (full uid map). */
export function runningInUserNS(): boolean {
  try {
    const first = readFileSync('/proc/self/uid_map', 'utf8').trim().split(/\s+/);
    return !(first[0] === '0' && first[1] === '0' && first[2] === '4294967295');
  } catch {
    return false; // no user namespaces in this kernel
  }
}

/** Where one hierarchy's cgroup goes; `name` names the hierarchy in errors. */
interface Target {
  dir: string;
  mountPoint: string;
  name: string;
  cpuset: boolean;
}

export interface JoinedCgroup {
  /** The cgroup directories the process is now in, one per hierarchy. */
  dirs: string[];
}

/**
 * Creates cgroup `path` (see {@link cleanCgroupPath}) where containerd would
 * and moves process `pid` into it. Directories are all made first: if one
 * cannot be, those this call made are removed again and nothing has moved.
 * Errors name the cgroup path and the hierarchy.
 */
export function joinCgroup(path: string, pid: number, mountInfoText?: string): JoinedCgroup {
  const rel = cleanCgroupPath(path);
  const mounts = parseMountInfo(mountInfoText ?? readFileSync('/proc/self/mountinfo', 'utf8'));
  const mode = cgroupMode(mounts);
  let targets: Target[];
  if (mode.kind === 'unified') {
    targets = [
      {
        dir: join(mode.mountPoint, rel),
        mountPoint: mode.mountPoint,
        name: 'cgroup2',
        cpuset: false,
      },
    ];
  } else if (mode.kind === 'v1') {
    const hierarchies = v1Hierarchies(mounts, {
      inUserNS: runningInUserNS(),
      hugetlb: existsSync('/sys/kernel/mm/hugepages'),
    });
    targets = hierarchies.map((h) => ({
      dir: join(h.mountPoint, rel),
      mountPoint: h.mountPoint,
      name: h.controllers.join(','),
      cpuset: h.controllers.includes('cpuset'),
    }));
    if (targets.length === 0) {
      throw failedPrecondition(
        `cgroup ${JSON.stringify(path)}: none of the cgroup v1 hierarchies mounted is one containerd uses`,
      );
    }
  } else {
    throw failedPrecondition(
      `cgroup ${JSON.stringify(path)}: no cgroup filesystem is mounted (/proc/self/mountinfo)`,
    );
  }

  const made: string[] = [];
  const fail = (t: Target, what: string, err: unknown): never => {
    throw failedPrecondition(
      `cgroup ${JSON.stringify(path)} in the ${t.name} hierarchy (${t.mountPoint}): ${what}: ${(err as Error).message}`,
      { cause: err },
    );
  };
  try {
    for (const t of targets) makeCgroupDir(t, rel, made, fail);
  } catch (err) {
    for (const d of made.reverse()) {
      try {
        rmdirSync(d);
      } catch {
        // left for the operator; the error below names the path
      }
    }
    throw err;
  }
  for (const t of targets) {
    try {
      writeFileSync(join(t.dir, 'cgroup.procs'), String(pid));
    } catch (err) {
      fail(t, `add pid ${pid} to ${join(t.dir, 'cgroup.procs')}`, err);
    }
  }
  return { dirs: targets.map((t) => t.dir) };
}

/**
 * Makes each missing directory from the hierarchy's mount down to the
 * cgroup, recording the ones made. In cpuset every level gets its parent's
 * cpus and mems when it has none: a cpuset without them takes no tasks.
 */
function makeCgroupDir(
  t: Target,
  rel: string,
  made: string[],
  fail: (t: Target, what: string, err: unknown) => never,
): void {
  let dir = t.mountPoint;
  for (const part of rel === '' ? [] : rel.split('/')) {
    const parent = dir;
    dir = join(dir, part);
    try {
      mkdirSync(dir, { mode: 0o755 });
      made.push(dir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') fail(t, `mkdir ${dir}`, err);
    }
    if (t.cpuset) {
      for (const file of ['cpuset.cpus', 'cpuset.mems']) {
        try {
          if (readIfExists(join(dir, file)).trim() !== '') continue;
          writeFileSync(join(dir, file), readIfExists(join(parent, file)));
        } catch (err) {
          fail(t, `copy ${file} from ${parent}`, err);
        }
      }
    }
  }
}

/** A file's text, or "" when it does not exist (as containerd's cpuset copy reads them). */
function readIfExists(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return '';
    throw err;
  }
}
