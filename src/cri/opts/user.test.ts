import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { LinuxContainerSecurityContext } from '../../api/k8s/cri/runtime/v1/api.js';
import { isInvalidArgument, isNotFound } from '../../core/errdefs/index.js';
import { criBaseSpec } from './defaults.js';
import {
  applyContainerUser,
  generateUserString,
  mergeGids,
  parseGroup,
  parsePasswd,
  RootfsIds,
  setUser,
} from './user.js';

const PASSWD = `root:x:0:0:root:/root:/bin/sh
daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin

bob:x:1000:1000::/home/bob:/bin/sh
alice:x:1001:1002::/home/alice:/bin/sh
bad:x:notanumber:7::/:/bin/false
`;
const GROUP = `root:x:0:
# a comment
wheel:x:10:bob,alice
bob:x:1000:bob
alicegrp:x:1002:
staff:x:50:alice
video:x:44:bob
`;

function rootfs(files: Record<string, string>) {
  const reads: string[] = [];
  const read = async (path: string) => {
    reads.push(path);
    return files[path] === undefined ? undefined : Buffer.from(files[path]);
  };
  return { ids: new RootfsIds(read), reads };
}

const full = () => rootfs({ '/etc/passwd': PASSWD, '/etc/group': GROUP });

describe('passwd and group parsing', () => {
  test('fields, blank lines, bad numbers read as 0', () => {
    const users = parsePasswd(PASSWD);
    assert.equal(users.length, 5);
    assert.deepEqual(users[2], { name: 'bob', uid: 1000, gid: 1000 });
    assert.deepEqual(users[4], { name: 'bad', uid: 0, gid: 7 });
  });
  test('group comments skipped, members split', () => {
    const groups = parseGroup(GROUP);
    assert.equal(groups.length, 6);
    assert.deepEqual(groups[1], { name: 'wheel', gid: 10, members: ['bob', 'alice'] });
    assert.deepEqual(groups[0]?.members, []);
  });
});

describe('generateUserString', () => {
  const v = (n: number) => ({ value: BigInt(n) });
  test('table', () => {
    assert.equal(generateUserString('', undefined, undefined), '');
    assert.equal(generateUserString('bob', undefined, undefined), 'bob');
    assert.equal(generateUserString('bob', v(5), undefined), 'bob');
    assert.equal(generateUserString('bob', v(5), v(6)), 'bob:6');
    assert.equal(generateUserString('', v(5), undefined), '5');
    assert.equal(generateUserString('', v(0), undefined), '0');
    assert.equal(generateUserString('', v(5), v(6)), '5:6');
  });
  test('a group without a user is refused', () => {
    assert.throws(
      () => generateUserString('', undefined, v(6)),
      (err: Error) =>
        isInvalidArgument(err) && /user group "6" is specified without user/.test(err.message),
    );
  });
});

describe('setUser (containerd oci.WithUser)', () => {
  const cases: { doc: string; user: string; uid: number; gid: number }[] = [
    { doc: 'uid with an entry takes its gid', user: '1001', uid: 1001, gid: 1002 },
    { doc: 'uid without an entry gets gid 0', user: '4242', uid: 4242, gid: 0 },
    { doc: 'name', user: 'bob', uid: 1000, gid: 1000 },
    { doc: 'uid:gid needs no lookup', user: '7:8', uid: 7, gid: 8 },
    { doc: 'name:group', user: 'bob:staff', uid: 1000, gid: 50 },
    { doc: 'uid:group', user: '33:video', uid: 33, gid: 44 },
    { doc: 'name:gid', user: 'alice:9', uid: 1001, gid: 9 },
    { doc: 'pause image 65535:65535', user: '65535:65535', uid: 65535, gid: 65535 },
  ];
  for (const c of cases) {
    test(c.doc, async () => {
      const spec = criBaseSpec('c');
      spec.process.user.additionalGids = [99];
      await setUser(spec, c.user, full().ids);
      assert.deepEqual(spec.process.user, { uid: c.uid, gid: c.gid, additionalGids: [c.gid] });
    });
  }
  test('numeric uid:gid reads no file', async () => {
    const { ids, reads } = rootfs({});
    await setUser(criBaseSpec('c'), '1:2', ids);
    assert.deepEqual(reads, []);
  });
  test('a bare uid without /etc/passwd is fine', async () => {
    const spec = criBaseSpec('c');
    await setUser(spec, '12', rootfs({}).ids);
    assert.deepEqual(spec.process.user, { uid: 12, gid: 0, additionalGids: [0] });
  });
  test('a missing user fails not_found naming it', async () => {
    await assert.rejects(
      setUser(criBaseSpec('c'), 'nobody', full().ids),
      (err: Error) => isNotFound(err) && /user "nobody"/.test(err.message),
    );
  });
  test('a missing group fails not_found naming it', async () => {
    await assert.rejects(
      setUser(criBaseSpec('c'), 'bob:nogroup', full().ids),
      (err: Error) => isNotFound(err) && /group "nogroup"/.test(err.message),
    );
  });
  test('a name without /etc/passwd fails', async () => {
    await assert.rejects(
      setUser(criBaseSpec('c'), 'bob', rootfs({}).ids),
      (err: Error) => isNotFound(err) && /no \/etc\/passwd/.test(err.message),
    );
  });
  test('three parts are invalid', async () => {
    await assert.rejects(
      setUser(criBaseSpec('c'), '1:2:3', full().ids),
      (err: Error) => isInvalidArgument(err) && /invalid USER value 1:2:3/.test(err.message),
    );
  });
});

describe('applyContainerUser (containerd containerSpecOpts order)', () => {
  const sc = (over: Partial<LinuxContainerSecurityContext>) =>
    LinuxContainerSecurityContext.fromPartial(over);

  test('image USER name: its groups are not looked up (containerd 1.6 uses uid 0 for memberships)', async () => {
    const spec = criBaseSpec('c');
    await applyContainerUser(spec, undefined, 'bob', full().ids);
    // bob is in wheel (10) and video (44), but 1.6 asks for root's groups
    assert.deepEqual(spec.process.user, { uid: 1000, gid: 1000, additionalGids: [1000] });
  });
  test('run_as_username: memberships of that name, supplemental groups merged and sorted', async () => {
    const spec = criBaseSpec('c');
    await applyContainerUser(
      spec,
      sc({ runAsUsername: 'bob', supplementalGroups: [5000n, 10n] }),
      'alice',
      full().ids,
    );
    assert.deepEqual(spec.process.user, {
      uid: 1000,
      gid: 1000,
      additionalGids: [10, 44, 1000, 5000],
    });
  });
  test('run_as_user: memberships of the passwd name of that uid', async () => {
    const spec = criBaseSpec('c');
    await applyContainerUser(spec, sc({ runAsUser: { value: 1001n } }), undefined, full().ids);
    assert.deepEqual(spec.process.user, { uid: 1001, gid: 1002, additionalGids: [10, 50, 1002] });
  });
  test('run_as_user and run_as_group', async () => {
    const spec = criBaseSpec('c');
    await applyContainerUser(
      spec,
      sc({ runAsUser: { value: 1000n }, runAsGroup: { value: 3000n } }),
      undefined,
      full().ids,
    );
    assert.deepEqual(spec.process.user, { uid: 1000, gid: 3000, additionalGids: [10, 44, 3000] });
  });
  test('no user anywhere: root with gid 0', async () => {
    const spec = criBaseSpec('c');
    await applyContainerUser(spec, undefined, '', full().ids);
    assert.deepEqual(spec.process.user, { uid: 0, gid: 0, additionalGids: [0] });
  });
  test('no id files: uid alone', async () => {
    const spec = criBaseSpec('c');
    await applyContainerUser(spec, sc({ runAsUser: { value: 5n } }), undefined, rootfs({}).ids);
    assert.deepEqual(spec.process.user, { uid: 5, gid: 0, additionalGids: [0] });
  });
  test('an unknown run_as_username fails', async () => {
    await assert.rejects(
      applyContainerUser(criBaseSpec('c'), sc({ runAsUsername: 'ghost' }), undefined, full().ids),
      (err: Error) => isNotFound(err) && /ghost/.test(err.message),
    );
  });
  test('mergeGids: sorted union', () => {
    assert.deepEqual(mergeGids([5, 1, 5], [3, 1]), [1, 3, 5]);
  });
});

describe('uid wrapping as Go uint32', () => {
  test('a negative uid wraps and matches the wrapped passwd entry', async () => {
    const spec = criBaseSpec('c');
    await setUser(spec, '-1', rootfs({ '/etc/passwd': 'nobody:x:4294967295:7::/:/x\n' }).ids);
    assert.deepEqual(spec.process.user, { uid: 4294967295, gid: 7, additionalGids: [7] });
  });
});
