/**
 * @module
 * The process's user and groups, resolved from the container's root
 * filesystem as containerd's `WithUser`, `WithUserID`, `WithUsername`,
 * `WithAdditionalGIDs` and `WithAppendAdditionalGroups` resolve them, with one
 * difference in where the files come from: containerd mounts the container's
 * snapshot; berth reads /etc/passwd and /etc/group from the image's layers
 * through the content store (see layer-fs.ts), so no option needs root.
 *
 * The root filesystem read, in order: the spec's `root.path` when it is
 * absolute and the container has no snapshot (as containerd); else the image
 * (the one `withImageConfig` was given, or the container's image); else the
 * option fails.
 */
import { isAbsolute } from 'node:path';
import { failedPrecondition, invalidArgument, notFound } from '../../core/errdefs/index.js';
import { DirFS } from './dir-fs.js';
import { LayerFS } from './layer-fs.js';
import {
  atoi,
  type GroupEntry,
  type PasswdEntry,
  parseGroup,
  parsePasswd,
  toUint32,
} from './passwd.js';
import { ensureProcess } from './process.js';
import { type RootFS, readRootFile } from './rootfs.js';
import type { Spec, SpecClient, SpecContainer, SpecImage, SpecOpt, User } from './types.js';

const PASSWD = 'etc/passwd';
const GROUP = 'etc/group';
/** The largest /etc/passwd or /etc/group read. */
const MAX_ID_FILE = 8 << 20;

/** Opens the container's root filesystem on first use. */
export type RootSource = () => Promise<RootFS>;

/** Root filesystems of images already opened for a container, by image name. */
const opened = new WeakMap<SpecContainer, Map<string, Promise<RootFS>>>();

/** Where the options read the container's files from (see the module comment). */
export function rootSource(
  client: SpecClient,
  container: SpecContainer,
  spec: Spec,
  image?: SpecImage,
): RootSource {
  let root: Promise<RootFS> | undefined;
  return () => {
    root ??= openRoot(client, container, spec, image);
    return root;
  };
}

async function openRoot(
  client: SpecClient,
  container: SpecContainer,
  spec: Spec,
  image: SpecImage | undefined,
): Promise<RootFS> {
  const noSnapshot = !container.snapshotter && !container.snapshotKey;
  const rootPath = spec.root?.path ?? '';
  if (noSnapshot && isAbsolute(rootPath)) return new DirFS(rootPath);
  if (image) return imageRoot(client, container, image);
  if (container.image) return imageRoot(client, container, await client.getImage(container.image));
  if (noSnapshot) throw invalidArgument('rootfs absolute path is required');
  throw failedPrecondition(
    `container "${container.id}" has a snapshot but no image: berth reads users and groups from the image's layers, never by mounting the snapshot`,
  );
}

function imageRoot(
  client: SpecClient,
  container: SpecContainer,
  image: SpecImage,
): Promise<RootFS> {
  let byImage = opened.get(container);
  if (!byImage) {
    byImage = new Map();
    opened.set(container, byImage);
  }
  let root = byImage.get(image.name);
  if (!root) {
    root = image.manifest().then(
      ({ layers }) =>
        new LayerFS(layers, (desc, opts) => client.readBlob(desc, opts), {
          description: `image "${image.name}"`,
          keep: [PASSWD, GROUP],
          ...(client.signal ? { signal: client.signal } : {}),
        }),
    );
    byImage.set(image.name, root);
    root.catch(() => byImage.delete(image.name));
  }
  return root;
}

/**
 * /etc/passwd and /etc/group already read from images, by layer chain and
 * path (undefined: the image has no such file). Layers are content-addressed,
 * so an entry never goes stale; creating many containers from one image reads
 * its layers once. Bounded: files up to {@link MAX_CACHED_FILE} bytes, the
 * {@link MAX_CACHED} most recent.
 */
const idFiles = new Map<string, Buffer | undefined>();
const MAX_CACHED = 128;
const MAX_CACHED_FILE = 256 << 10;

/** Forgets the cached /etc files of images (for benchmarks measuring a first read). */
export function clearUserCache(): void {
  idFiles.clear();
}

/**
 * A second level for the /etc files read from images, for programs that
 * live one command (a CLI keeps them on disk). Keys name the layer chain
 * and the path, so an entry never goes stale. `get` answers undefined when
 * it does not know, null when the image has no such file.
 */
export interface IdFileStore {
  get(key: string): Promise<Buffer | null | undefined>;
  set(key: string, data: Buffer | null): Promise<void>;
}

let idFileStore: IdFileStore | undefined;

/** Sets (or with undefined removes) the process's {@link IdFileStore}. */
export function setIdFileStore(store: IdFileStore | undefined): void {
  idFileStore = store;
}

async function readIdFile(root: RootFS, path: string): Promise<Buffer | undefined> {
  if (root.cacheKey === undefined) return readRootFile(root, path, MAX_ID_FILE);
  const key = `${root.cacheKey}\0${path}`;
  if (idFiles.has(key)) {
    const data = idFiles.get(key);
    idFiles.delete(key); // most recent last
    idFiles.set(key, data);
    return data;
  }
  const stored = await idFileStore?.get(key).catch(() => undefined);
  const data =
    stored !== undefined ? (stored ?? undefined) : await readRootFile(root, path, MAX_ID_FILE);
  if (data === undefined || data.length <= MAX_CACHED_FILE) {
    idFiles.set(key, data);
    while (idFiles.size > MAX_CACHED) idFiles.delete(idFiles.keys().next().value!);
    if (stored === undefined) await idFileStore?.set(key, data ?? null).catch(() => {});
  }
  return data;
}

async function readPasswd(root: RootFS): Promise<PasswdEntry[] | undefined> {
  const data = await readIdFile(root, PASSWD);
  return data && parsePasswd(data.toString('utf8'));
}

async function readGroup(root: RootFS): Promise<GroupEntry[] | undefined> {
  const data = await readIdFile(root, GROUP);
  return data && parseGroup(data.toString('utf8'));
}

/** The first passwd entry named `name`; throws `not_found` when there is no file or no such user. */
async function userNamed(root: RootFS, name: string): Promise<PasswdEntry> {
  const users = await readPasswd(root);
  if (!users) throw notFound(`user "${name}": ${root.description} has no /etc/passwd`);
  const user = users.find((u) => u.name === name);
  if (!user) throw notFound(`user "${name}": no such user in /etc/passwd of ${root.description}`);
  return user;
}

/** The gid of the first group named `name`; throws `not_found` when there is no file or no such group. */
async function gidNamed(root: RootFS, name: string): Promise<number> {
  const groups = await readGroup(root);
  if (!groups) throw notFound(`group "${name}": ${root.description} has no /etc/group`);
  const group = groups.find((g) => g.name === name);
  if (!group) throw notFound(`group "${name}": no such group in /etc/group of ${root.description}`);
  return group.gid;
}

/**
 * Runs `change` on the process's user with its additional gids cleared, then
 * puts the primary gid first among them if they lack it (containerd's
 * deferred ensureAdditionalGids: it runs even when `change` throws).
 */
async function changeUser(spec: Spec, change: (user: User) => Promise<void> | void): Promise<void> {
  const { user } = ensureProcess(spec);
  delete user.additionalGids;
  try {
    await change(user);
  } finally {
    ensureAdditionalGids(user);
  }
}

function ensureAdditionalGids(user: User): void {
  const gids = user.additionalGids ?? [];
  if (!gids.includes(user.gid)) user.additionalGids = [user.gid, ...gids];
}

/** Sets uid and gid from `userstr` (see {@link withUser}). */
export async function setUser(spec: Spec, userstr: string, root: RootSource): Promise<void> {
  const parts = userstr.split(':');
  if (parts.length > 2) throw invalidArgument(`invalid USER value ${userstr}`);
  await changeUser(spec, async (user) => {
    const [first = '', second] = parts;
    if (second === undefined) {
      const uid = atoi(first);
      if (uid === undefined) await setUsername(spec, user, first, root);
      else await setUserID(user, toUint32(uid), root);
      return;
    }
    const uidNum = atoi(first);
    const gidNum = atoi(second);
    const username = uidNum === undefined ? first : '';
    const groupname = gidNum === undefined ? second : '';
    let uid = uidNum === undefined ? 0 : toUint32(uidNum);
    let gid = gidNum === undefined ? 0 : toUint32(gidNum);
    if (username !== '' || groupname !== '') {
      const fs = await root();
      if (username !== '') uid = (await userNamed(fs, username)).uid;
      if (groupname !== '') gid = await gidNamed(fs, groupname);
    }
    user.uid = uid;
    user.gid = gid;
  });
}

async function setUserID(user: User, uid: number, root: RootSource): Promise<void> {
  const users = await readPasswd(await root());
  const entry = users?.find((u) => u.uid === uid);
  user.uid = uid;
  user.gid = entry ? entry.gid : 0;
}

async function setUsername(spec: Spec, user: User, name: string, root: RootSource): Promise<void> {
  if (!spec.linux) throw invalidArgument('spec does not contain Linux section');
  const entry = await userNamed(await root(), name);
  user.uid = entry.uid;
  user.gid = entry.gid;
}

/** Sets the additional gids of `userstr` (see {@link withAdditionalGIDs}). */
export async function setAdditionalGids(
  spec: Spec,
  userstr: string,
  root: RootSource,
): Promise<void> {
  const { user } = ensureProcess(spec);
  delete user.additionalGids;
  const fs = await root();
  try {
    let username = userstr;
    const uid = atoi(userstr);
    if (uid !== undefined) {
      const entry = (await readPasswd(fs))?.find((u) => u.uid === uid);
      if (!entry) return;
      username = entry.name;
    }
    const groups = await readGroup(fs);
    if (!groups) return;
    user.additionalGids = groups
      .filter((g) => g.name !== username && g.members.includes(username))
      .map((g) => toUint32(g.gid));
  } finally {
    ensureAdditionalGids(user);
  }
}

/**
 * The user the process runs as, from an image's `USER` syntax: `uid`,
 * `name`, `uid:gid`, `name:group`, `uid:group` or `name:gid` (containerd's
 * `oci.WithUser`). Names are looked up in the container's /etc/passwd and
 * /etc/group (read from the image's layers, see the module comment). A bare
 * uid takes its gid from /etc/passwd, or 0 when it has no entry; a bare name
 * must exist. The additional gids are reset to the primary gid.
 *
 * @example
 * ```ts
 * withNewSpec(oci.withImageConfig(image), oci.withUser('nobody:nogroup'), oci.withAdditionalGIDs('nobody'))
 * ```
 */
export function withUser(userstr: string): SpecOpt {
  return (client, container, spec) => setUser(spec, userstr, rootSource(client, container, spec));
}

/** Sets uid and gid without looking anything up (containerd's `oci.WithUIDGID`). */
export function withUIDGID(uid: number, gid: number): SpecOpt {
  return (_client, _container, spec) =>
    changeUser(spec, (user) => {
      user.uid = uid;
      user.gid = gid;
    });
}

/**
 * Sets the uid, and the gid /etc/passwd gives it, or 0 when the file or the
 * entry is missing (containerd's `oci.WithUserID`).
 */
export function withUserID(uid: number): SpecOpt {
  return (client, container, spec) =>
    changeUser(spec, (user) => setUserID(user, uid, rootSource(client, container, spec)));
}

/**
 * Sets uid and gid of the user named `name` in /etc/passwd; fails `not_found`
 * when the file or the user is missing (containerd's `oci.WithUsername`).
 */
export function withUsername(name: string): SpecOpt {
  return (client, container, spec) =>
    changeUser(spec, (user) => setUsername(spec, user, name, rootSource(client, container, spec)));
}

/**
 * Sets the additional gids to the groups of /etc/group that list the user
 * `userstr` (a name, or a uid looked up in /etc/passwd) as a member, except
 * the group named as the user; the primary gid comes first unless among them
 * (containerd's `oci.WithAdditionalGIDs`). Missing files leave only the
 * primary gid.
 */
export function withAdditionalGIDs(userstr: string): SpecOpt {
  return (client, container, spec) =>
    setAdditionalGids(spec, userstr, rootSource(client, container, spec));
}

/**
 * Appends groups, given by gid or by name from /etc/group, to the additional
 * gids (containerd's `oci.WithAppendAdditionalGroups`).
 */
export function withAppendAdditionalGroups(...groups: string[]): SpecOpt {
  return async (client, container, spec) => {
    const { user } = ensureProcess(spec);
    const root = rootSource(client, container, spec);
    try {
      let known: GroupEntry[] | undefined;
      const gids: number[] = [];
      for (const group of groups) {
        const gid = /^[0-9]+$/.test(group) ? Number(group) : undefined;
        if (gid !== undefined && gid <= 0xffff_ffff) {
          gids.push(gid);
          continue;
        }
        known ??= (await readGroup(await root())) ?? [];
        const entry = known.find((g) => g.name === group);
        if (!entry) throw notFound(`unable to find group ${group}`);
        gids.push(toUint32(entry.gid));
      }
      user.additionalGids = [...(user.additionalGids ?? []), ...gids];
    } finally {
      ensureAdditionalGids(user);
    }
  };
}
