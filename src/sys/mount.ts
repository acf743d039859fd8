/**
 * @module mount
 * Performs containerd-style mounts ({type, source, options}, the value type of
 * src/core/mount) as containerd's mount.All / mount.UnmountAll do on Linux.
 * Root only.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import {
  type FsParam,
  fsmountAt,
  isErrno,
  MNT_DETACH,
  MOUNT_ATTR_NOATIME,
  MOUNT_ATTR_NODEV,
  MOUNT_ATTR_NODIRATIME,
  MOUNT_ATTR_NOEXEC,
  MOUNT_ATTR_NOSUID,
  MOUNT_ATTR_NOSYMFOLLOW,
  MOUNT_ATTR_RDONLY,
  MOUNT_ATTR_STRICTATIME,
  MS_BIND,
  MS_DIRSYNC,
  MS_LAZYTIME,
  MS_MANDLOCK,
  MS_NOATIME,
  MS_NODEV,
  MS_NODIRATIME,
  MS_NOEXEC,
  MS_NOSUID,
  MS_NOSYMFOLLOW,
  MS_PRIVATE,
  MS_RDONLY,
  MS_REC,
  MS_RELATIME,
  MS_REMOUNT,
  MS_SHARED,
  MS_SLAVE,
  MS_STRICTATIME,
  MS_SYNCHRONOUS,
  MS_UNBINDABLE,
  mount,
  pageSize,
  umount2,
} from './linux.js';

/** A mount as containerd describes it; src/core/mount's `Mount` is one. */
export interface MountSpec {
  /** `overlay`, `bind`, `tmpfs`, … (`bind`/`rbind` need only the options). */
  type: string;
  source: string;
  options: readonly string[];
}

/** [clears the flag?, flag], as containerd's mount_linux.go parses them. */
const FLAGS: Record<string, readonly [boolean, number]> = {
  async: [true, MS_SYNCHRONOUS],
  atime: [true, MS_NOATIME],
  bind: [false, MS_BIND],
  defaults: [false, 0],
  dev: [true, MS_NODEV],
  diratime: [true, MS_NODIRATIME],
  dirsync: [false, MS_DIRSYNC],
  exec: [true, MS_NOEXEC],
  lazytime: [false, MS_LAZYTIME],
  mand: [false, MS_MANDLOCK],
  noatime: [false, MS_NOATIME],
  nodev: [false, MS_NODEV],
  nodiratime: [false, MS_NODIRATIME],
  noexec: [false, MS_NOEXEC],
  nolazytime: [true, MS_LAZYTIME],
  nomand: [true, MS_MANDLOCK],
  norelatime: [true, MS_RELATIME],
  nostrictatime: [true, MS_STRICTATIME],
  nosuid: [false, MS_NOSUID],
  nosymfollow: [false, MS_NOSYMFOLLOW],
  rbind: [false, MS_BIND | MS_REC],
  relatime: [false, MS_RELATIME],
  remount: [false, MS_REMOUNT],
  ro: [false, MS_RDONLY],
  rw: [true, MS_RDONLY],
  strictatime: [false, MS_STRICTATIME],
  suid: [true, MS_NOSUID],
  sync: [false, MS_SYNCHRONOUS],
};

const PROPAGATION: Record<string, number> = {
  private: MS_PRIVATE,
  rprivate: MS_PRIVATE | MS_REC,
  shared: MS_SHARED,
  rshared: MS_SHARED | MS_REC,
  slave: MS_SLAVE,
  rslave: MS_SLAVE | MS_REC,
  unbindable: MS_UNBINDABLE,
  runbindable: MS_UNBINDABLE | MS_REC,
};

const PTYPES = MS_SHARED | MS_PRIVATE | MS_SLAVE | MS_UNBINDABLE;

/** The kernel takes fsconfig string values up to 255 bytes. */
const FSCONFIG_VALUE_MAX = 255;

/** Options split as mount(2) wants them. */
export interface ParsedOptions {
  /** MS_* flags, propagation excluded. */
  flags: number;
  /** MS_PRIVATE/SHARED/SLAVE/UNBINDABLE (| MS_REC), applied by a second call; 0 for none. */
  propagation: number;
  /** Filesystem options, in order (joined with ',' they are mount(2)'s data). */
  data: string[];
}

/**
 * Splits containerd mount options into flags, propagation and data.
 * Throws for what berth does not do: `loop`, id-mapped mounts and
 * `X-containerd.*` options.
 */
export function parseMountOptions(options: readonly string[]): ParsedOptions {
  let flags = 0;
  let propagation = 0;
  const data: string[] = [];
  for (const o of options) {
    const f = FLAGS[o];
    if (f !== undefined) {
      flags = f[0] ? flags & ~f[1] : flags | f[1];
      continue;
    }
    const p = PROPAGATION[o];
    if (p !== undefined) {
      propagation |= p;
      continue;
    }
    if (
      o === 'loop' ||
      o.startsWith('X-containerd.') ||
      /^(uid|gid)map=/.test(o) ||
      o === 'idmap'
    ) {
      throw new Error(`mount option ${JSON.stringify(o)} is not supported`);
    }
    data.push(o);
  }
  return { flags, propagation, data };
}

/**
 * Mounts `mounts` on `target`, in order, as containerd's mount.All:
 * - `bind`/`rbind` with `ro` are bind-mounted, then remounted read-only;
 * - propagation options (`rprivate`, …) are applied by a second call;
 * - other options become the data string. For `overlay`, a data string near
 *   the page size (long `lowerdir` lists; containerd shortens them by
 *   chdir'ing, which threads cannot do) goes through the new mount API
 *   instead, one `lowerdir+` per layer (Linux ≥ 6.5); other types throw.
 * If one fails, those already mounted are unmounted before the error is thrown.
 */
export function mountAll(mounts: readonly MountSpec[], target: string): void {
  let done = 0;
  try {
    for (const m of mounts) {
      mountOne(m, target);
      done++;
    }
  } catch (err) {
    for (; done > 0; done--) {
      try {
        umount2(target, MNT_DETACH);
      } catch {
        break;
      }
    }
    throw err;
  }
}

/**
 * Unmounts everything mounted on `target` (stacked mounts included), as
 * containerd's UnmountAll: until the kernel says it is no longer a mount point.
 * A missing target counts as unmounted. `flags`: MNT_DETACH for a lazy unmount.
 */
export function unmountAll(target: string, flags = 0): void {
  for (let i = 0; i < 1024; i++) {
    try {
      umount2(target, flags);
    } catch (err) {
      if (isErrno(err, 'EINVAL', 'ENOENT')) return;
      // Without CAP_SYS_ADMIN umount2 answers EPERM before looking: nothing mounted is nothing to do.
      if (isErrno(err, 'EPERM') && !isMountPoint(target)) return;
      throw err;
    }
  }
  throw new Error(`unmountAll ${target}: still mounted after 1024 unmounts`);
}

/** Whether `target` is a mount point of this mount namespace (/proc/self/mountinfo, octal escapes). */
function isMountPoint(target: string): boolean {
  const escaped = resolve(target).replace(
    /[ \t\n\\]/g,
    (c) => `\\${c.charCodeAt(0).toString(8).padStart(3, '0')}`,
  );
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .some((line) => line.split(' ')[4] === escaped);
}

function mountOne(m: MountSpec, target: string): void {
  const { flags, propagation, data } = parseMountOptions(m.options);
  const joined = data.join(',');
  const size = Buffer.byteLength(joined) + 1;
  const page = pageSize();
  const oflags = flags & ~PTYPES;
  try {
    if (m.type === 'overlay' && size > page - 512) {
      mountOverlayFs(m.source, data, oflags, target);
    } else if (size > page) {
      throw new Error(
        `mount options are ${size} bytes, more than mount(2) takes (${page}); only overlay lowerdir lists can be split`,
      );
    } else if ((flags & MS_REMOUNT) === 0 || joined !== '') {
      mount(m.source, target, m.type, oflags, joined === '' ? null : joined);
    }
    if (propagation !== 0) {
      // As containerd: an rbind makes a plain `private` recursive too.
      mount(null, target, null, propagation | (flags & MS_REC), null);
    }
    if ((oflags & (MS_BIND | MS_RDONLY)) === (MS_BIND | MS_RDONLY)) {
      mount(null, target, null, oflags | MS_REMOUNT, null);
    }
  } catch (err) {
    const what = `mount ${m.type} ${JSON.stringify(m.source)} on ${target} [${m.options.join(',')}]`;
    if (err instanceof Error) err.message = `${what}: ${err.message}`;
    throw err;
  }
}

const ATTRS: readonly (readonly [number, number])[] = [
  [MS_RDONLY, MOUNT_ATTR_RDONLY],
  [MS_NOSUID, MOUNT_ATTR_NOSUID],
  [MS_NODEV, MOUNT_ATTR_NODEV],
  [MS_NOEXEC, MOUNT_ATTR_NOEXEC],
  [MS_NOATIME, MOUNT_ATTR_NOATIME],
  [MS_NODIRATIME, MOUNT_ATTR_NODIRATIME],
  [MS_STRICTATIME, MOUNT_ATTR_STRICTATIME],
  [MS_NOSYMFOLLOW, MOUNT_ATTR_NOSYMFOLLOW],
];

/** Superblock flags fsconfig takes as flag parameters. */
const SB_FLAGS: readonly (readonly [number, string])[] = [
  [MS_RDONLY, 'ro'],
  [MS_SYNCHRONOUS, 'sync'],
  [MS_DIRSYNC, 'dirsync'],
  [MS_LAZYTIME, 'lazytime'],
  [MS_MANDLOCK, 'mand'],
];

/** An overlay through fsopen/fsconfig/fsmount/move_mount, `lowerdir` split into `lowerdir+` parameters. */
function mountOverlayFs(source: string, data: string[], flags: number, target: string): void {
  if (flags & (MS_BIND | MS_REMOUNT)) {
    throw new Error('bind and remount flags make no sense for a new overlay');
  }
  const params: FsParam[] = [{ key: 'source', value: source }];
  for (const [ms, key] of SB_FLAGS) if (flags & ms) params.push({ key, value: null });
  for (const opt of data) {
    const eq = opt.indexOf('=');
    const key = eq < 0 ? opt : opt.slice(0, eq);
    const value = eq < 0 ? null : opt.slice(eq + 1);
    if (key === 'lowerdir' && value !== null) {
      for (const dir of splitLowerdir(value)) params.push({ key: 'lowerdir+', value: dir });
    } else {
      params.push({ key, value });
    }
  }
  for (const { key, value } of params) {
    if (value !== null && Buffer.byteLength(value) > FSCONFIG_VALUE_MAX) {
      throw new Error(
        `overlay option ${key} is ${Buffer.byteLength(value)} bytes; the kernel takes at most ${FSCONFIG_VALUE_MAX} per path`,
      );
    }
  }
  let attrs = 0;
  for (const [ms, attr] of ATTRS) if (flags & ms) attrs |= attr;
  try {
    fsmountAt('overlay', params, attrs, target);
  } catch (err) {
    if (err instanceof Error && /lowerdir\+/.test(err.message)) {
      err.message += ' (a lowerdir list this long needs Linux ≥ 6.5 for lowerdir+)';
    }
    throw err;
  }
}

/** Splits overlay's `lowerdir` on unescaped ':' and drops the '\' escapes. */
export function splitLowerdir(value: string): string[] {
  const out: string[] = [];
  let cur = '';
  for (let i = 0; i < value.length; i++) {
    const ch = value[i];
    if (ch === '\\' && i + 1 < value.length) {
      cur += value[++i];
    } else if (ch === ':') {
      out.push(cur);
      cur = '';
    } else {
      cur += ch;
    }
  }
  out.push(cur);
  return out.filter((d) => d !== '');
}
