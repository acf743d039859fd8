/**
 * @module
 * The process's user and groups, resolved against the container's root
 * filesystem as containerd 1.6 resolves them (oci.WithUser,
 * customopts.WithAdditionalGIDs, customopts.WithSupplementalGroups). The
 * caller hands in a reader of the rootfs' files: containerd mounts the
 * snapshot for this too.
 *
 * /etc/passwd and /etc/group are parsed as moby/sys/user parses them: blank
 * lines skipped, `:`-separated fields, numbers that do not parse read as 0;
 * group lines starting with `#` are comments.
 */
import type {
  Int64Value,
  LinuxContainerSecurityContext,
} from '../../api/k8s/cri/runtime/v1/api.js';
import { invalidArgument, notFound } from '../../core/errdefs/index.js';
import type { OciSpec, OciUser } from './types.js';

/** Reads a file of the container's rootfs by its absolute path there; undefined when missing. */
export type RootfsReader = (path: string) => Promise<Buffer | undefined>;

export interface PasswdEntry {
  name: string;
  uid: number;
  gid: number;
}

export interface GroupEntry {
  name: string;
  gid: number;
  members: string[];
}

export function parsePasswd(text: string): PasswdEntry[] {
  return lines(text).map((line) => {
    const [name = '', , uid = '', gid = ''] = line.split(':');
    return { name, uid: atoi(uid) ?? 0, gid: atoi(gid) ?? 0 };
  });
}

export function parseGroup(text: string): GroupEntry[] {
  return lines(text)
    .filter((line) => !line.startsWith('#'))
    .map((line) => {
      const [name = '', , gid = '', list] = line.split(':');
      return { name, gid: atoi(gid) ?? 0, members: list ? list.split(',') : [] };
    });
}

function lines(text: string): string[] {
  return text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '');
}

/** Go's strconv.Atoi: an optional sign and digits, in the int64 range; undefined otherwise. */
export function atoi(s: string): number | undefined {
  if (!/^[+-]?[0-9]+$/.test(s)) return undefined;
  const v = BigInt(s);
  if (v > 0x7fff_ffff_ffff_ffffn || v < -0x8000_0000_0000_0000n) return undefined;
  return Number(v);
}

/** Go's uint32(v). */
function u32(v: number | bigint): number {
  return Number(BigInt.asUintN(32, BigInt(v)));
}

/**
 * The user string CRI's fields mean (containerd's generateUserString):
 * username wins over uid, a gid is appended as `:gid`; a gid without a user
 * is refused.
 */
export function generateUserString(
  username: string,
  uid: Int64Value | undefined,
  gid: Int64Value | undefined,
): string {
  let user = uid ? uid.value.toString() : '';
  if (username !== '') user = username;
  const group = gid ? gid.value.toString() : '';
  if (user === '') {
    if (group !== '') {
      throw invalidArgument(
        `failed to generate user string: user group "${group}" is specified without user`,
      );
    }
    return '';
  }
  return group !== '' ? `${user}:${group}` : user;
}

/** Reads and parses the rootfs' id files once per build. */
export class RootfsIds {
  #passwd?: Promise<PasswdEntry[] | undefined>;
  #group?: Promise<GroupEntry[] | undefined>;
  constructor(private readonly read: RootfsReader) {}

  passwd(): Promise<PasswdEntry[] | undefined> {
    this.#passwd ??= this.read('/etc/passwd').then((b) => b && parsePasswd(b.toString('utf8')));
    return this.#passwd;
  }

  group(): Promise<GroupEntry[] | undefined> {
    this.#group ??= this.read('/etc/group').then((b) => b && parseGroup(b.toString('utf8')));
    return this.#group;
  }

  async userNamed(name: string): Promise<PasswdEntry> {
    const users = await this.passwd();
    if (!users) throw notFound(`user "${name}": the container's rootfs has no /etc/passwd`);
    const user = users.find((u) => u.name === name);
    if (!user) throw notFound(`user "${name}": no users found in the container's /etc/passwd`);
    return user;
  }

  async gidNamed(name: string): Promise<number> {
    const groups = await this.group();
    if (!groups) throw notFound(`group "${name}": the container's rootfs has no /etc/group`);
    const group = groups.find((g) => g.name === name);
    if (!group) throw notFound(`group "${name}": no groups found in the container's /etc/group`);
    return u32(group.gid);
  }
}

/** Puts the primary gid first among the additional gids unless they hold it (containerd's ensureAdditionalGids). */
function ensureAdditionalGids(user: OciUser): void {
  const gids = user.additionalGids ?? [];
  if (!gids.includes(user.gid)) user.additionalGids = [user.gid, ...gids];
}

/**
 * Sets uid and gid from a USER string (containerd's oci.WithUser): `uid`
 * (gid from /etc/passwd, 0 without an entry), `name` (must exist),
 * `uid:gid`, `name:group`, `uid:group`, `name:gid`. The additional gids
 * become the primary gid alone.
 */
export async function setUser(spec: OciSpec, userstr: string, ids: RootfsIds): Promise<void> {
  const user = spec.process.user;
  delete user.additionalGids;
  try {
    const parts = userstr.split(':');
    if (parts.length > 2) throw invalidArgument(`invalid USER value ${userstr}`);
    const [first = '', second] = parts;
    if (second === undefined) {
      const uid = atoi(first);
      if (uid === undefined) {
        const entry = await ids.userNamed(first);
        user.uid = u32(entry.uid);
        user.gid = u32(entry.gid);
      } else {
        const entry = (await ids.passwd())?.find((u) => u32(u.uid) === u32(uid));
        user.uid = u32(uid);
        user.gid = entry ? u32(entry.gid) : 0;
      }
      return;
    }
    const uidNum = atoi(first);
    const gidNum = atoi(second);
    let uid = uidNum === undefined ? 0 : u32(uidNum);
    let gid = gidNum === undefined ? 0 : u32(gidNum);
    if (uidNum === undefined) uid = u32((await ids.userNamed(first)).uid);
    if (gidNum === undefined) gid = await ids.gidNamed(second);
    user.uid = uid;
    user.gid = gid;
  } finally {
    ensureAdditionalGids(user);
  }
}

/** The sorted union of two gid lists (containerd's mergeGids). */
export function mergeGids(a: readonly number[], b: readonly number[]): number[] {
  return [...new Set([...a, ...b])].sort((x, y) => x - y);
}

/**
 * Merges into the additional gids the groups of /etc/group that list
 * `userstr` (a name, or a uid looked up in /etc/passwd) as a member, except
 * the group named as the user; the primary gid is kept (containerd's
 * customopts.WithAdditionalGIDs). Missing files or users add nothing.
 */
export async function addGroupMemberships(
  spec: OciSpec,
  userstr: string,
  ids: RootfsIds,
): Promise<void> {
  const user = spec.process.user;
  const before = user.additionalGids ?? [];
  const found: number[] = [];
  let username: string | undefined = userstr;
  const uid = atoi(userstr);
  if (uid !== undefined) username = (await ids.passwd())?.find((u) => u.uid === uid)?.name;
  if (username !== undefined) {
    for (const g of (await ids.group()) ?? []) {
      if (g.name !== username && g.members.includes(username)) found.push(u32(g.gid));
    }
  }
  const own: OciUser = { ...user, additionalGids: found };
  ensureAdditionalGids(own);
  user.additionalGids = mergeGids(own.additionalGids ?? [], before);
}

/** Merges the pod's supplemental groups into the additional gids (containerd's WithSupplementalGroups). */
export function addSupplementalGroups(spec: OciSpec, groups: readonly bigint[]): void {
  const user = spec.process.user;
  const merged = mergeGids(user.additionalGids ?? [], groups.map(u32));
  if (merged.length > 0) user.additionalGids = merged;
  else delete user.additionalGids;
}

/**
 * The container's user and groups, in containerd's order: the user from
 * run_as_username / run_as_user / run_as_group or the image's USER, then
 * the group memberships of run_as_username or run_as_user (uid 0 when
 * neither is set, as containerd 1.6), then the supplemental groups.
 */
export async function applyContainerUser(
  spec: OciSpec,
  sc: LinuxContainerSecurityContext | undefined,
  imageUser: string | undefined,
  ids: RootfsIds,
): Promise<void> {
  const userstr =
    generateUserString(sc?.runAsUsername ?? '', sc?.runAsUser, sc?.runAsGroup) || imageUser || '';
  if (userstr !== '') await setUser(spec, userstr, ids);
  const member = sc?.runAsUsername || (sc?.runAsUser?.value ?? 0n).toString();
  await addGroupMemberships(spec, member, ids);
  addSupplementalGroups(spec, sc?.supplementalGroups ?? []);
}
