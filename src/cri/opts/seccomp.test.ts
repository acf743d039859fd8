import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  LinuxContainerSecurityContext,
  SecurityProfile_ProfileType,
} from '../../api/k8s/cri/runtime/v1/api.js';
import { isInvalidArgument } from '../../core/errdefs/index.js';
import { criBaseSpec } from './defaults.js';
import {
  CLONE_NAMESPACE_FLAGS,
  DEFAULT_ALLOWED_SYSCALLS,
  defaultSeccompProfile,
} from './seccomp-default.js';
import {
  checkApparmorUnsupported,
  decodeSeccomp,
  loadSeccompProfile,
  requestedSeccomp,
  seccompFor,
  securityProfileOf,
} from './security-profile.js';
import { FakeHost } from './testing/fake-host.js';

const X64 = { arch: 'x64', kernel: { major: 6, minor: 1 } };

function namesOf(p: ReturnType<typeof defaultSeccompProfile>): string[] {
  return (p.syscalls ?? []).flatMap((s) => s.names);
}

describe('default seccomp profile (containerd 1.6 contrib/seccomp)', () => {
  test('shape for a default container on amd64', () => {
    const p = defaultSeccompProfile(criBaseSpec('c'), X64);
    assert.equal(p.defaultAction, 'SCMP_ACT_ERRNO');
    assert.deepEqual(p.architectures, ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32']);
    // containerd 1.6.20's list has 349 names
    assert.equal(DEFAULT_ALLOWED_SYSCALLS.length, 349);
    assert.equal(new Set(DEFAULT_ALLOWED_SYSCALLS).size, 349);
    const first = p.syscalls?.[0];
    assert.equal(first?.action, 'SCMP_ACT_ALLOW');
    assert.equal(first?.args, undefined);
    for (const name of [
      'read',
      'write',
      'execve',
      'socket',
      'openat',
      'exit_group',
      'io_uring_setup',
    ]) {
      assert.ok(first?.names.includes(name), name);
    }
    for (const name of ['mount', 'reboot', 'unshare', 'setns', 'kexec_load', 'name_to_handle_at']) {
      assert.ok(!first?.names.includes(name), name);
    }
    const personalities = p.syscalls?.filter((s) => s.names[0] === 'personality');
    assert.deepEqual(
      personalities?.map((s) => s.args?.[0]?.value),
      [0, 8, 0x20000, 0x20008, 0xffffffff],
    );
    // kernel >= 4.8: ptrace; amd64: arch_prctl, modify_ldt; default caps: chroot
    const names = namesOf(p);
    for (const n of ['ptrace', 'arch_prctl', 'modify_ldt', 'chroot'])
      assert.ok(names.includes(n), n);
    // no CAP_SYS_ADMIN: clone without namespace flags, clone3 ENOSYS
    const clone = p.syscalls?.find((s) => s.names.length === 1 && s.names[0] === 'clone');
    assert.deepEqual(clone?.args, [
      { index: 0, value: CLONE_NAMESPACE_FLAGS, op: 'SCMP_CMP_MASKED_EQ' },
    ]);
    const clone3 = p.syscalls?.find((s) => s.names[0] === 'clone3');
    assert.deepEqual(clone3, { names: ['clone3'], action: 'SCMP_ACT_ERRNO', errnoRet: 38 });
    assert.equal(p.syscalls?.length, 1 + 5 + 1 + 1 + 1 + 2);
  });

  test('CAP_SYS_ADMIN unlocks mount and clone, no clone rules', () => {
    const spec = criBaseSpec('c');
    spec.process.capabilities?.bounding?.push('CAP_SYS_ADMIN', 'CAP_SYS_PTRACE', 'CAP_SYS_TIME');
    const p = defaultSeccompProfile(spec, X64);
    const names = namesOf(p);
    for (const n of [
      'mount',
      'umount2',
      'unshare',
      'setns',
      'clone',
      'clone3',
      'kcmp',
      'settimeofday',
    ]) {
      assert.ok(names.includes(n), n);
    }
    assert.ok(!p.syscalls?.some((s) => s.action === 'SCMP_ACT_ERRNO'));
    assert.ok(!p.syscalls?.some((s) => s.names[0] === 'clone' && s.args));
  });

  test('kernel before 4.8 has no ptrace; unknown kernel neither', () => {
    assert.ok(
      !namesOf(
        defaultSeccompProfile(criBaseSpec('c'), { arch: 'x64', kernel: { major: 4, minor: 4 } }),
      ).includes('ptrace'),
    );
    assert.ok(
      !namesOf(defaultSeccompProfile(criBaseSpec('c'), { arch: 'x64' })).includes('ptrace'),
    );
    assert.ok(
      namesOf(
        defaultSeccompProfile(criBaseSpec('c'), { arch: 'x64', kernel: { major: 4, minor: 8 } }),
      ).includes('ptrace'),
    );
  });

  test('arm64 and s390x', () => {
    const arm = defaultSeccompProfile(criBaseSpec('c'), {
      arch: 'arm64',
      kernel: { major: 5, minor: 10 },
    });
    assert.deepEqual(arm.architectures, ['SCMP_ARCH_ARM', 'SCMP_ARCH_AARCH64']);
    assert.ok(namesOf(arm).includes('set_tls'));
    assert.ok(!namesOf(arm).includes('arch_prctl'));
    const s390 = defaultSeccompProfile(criBaseSpec('c'), { arch: 's390x' });
    const clone = s390.syscalls?.find((s) => s.names[0] === 'clone' && s.args);
    assert.equal(clone?.args?.[0]?.index, 1);
  });

  test('an architecture containerd lists none for gets no architectures field', () => {
    const p = defaultSeccompProfile(criBaseSpec('c'), { arch: 'ppc64' });
    assert.equal(p.architectures, undefined);
    assert.ok(namesOf(p).includes('swapcontext'));
  });

  test('serialises without empty args', () => {
    const json = JSON.stringify(defaultSeccompProfile(criBaseSpec('c'), X64));
    assert.ok(!json.includes('"args":[]'));
    assert.ok(!json.includes('valueTwo'));
  });
});

describe('profile selection (containerd generateSeccompSpecOpts)', () => {
  const host = new FakeHost({
    '/profiles/ok.json': {
      kind: 'file',
      content: JSON.stringify({ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [] }),
    },
    '/profiles/bad.json': { kind: 'file', content: '{"defaultAction":' },
    '/profiles/array.json': { kind: 'file', content: '[]' },
  });
  const sc = (over: Partial<LinuxContainerSecurityContext>) =>
    LinuxContainerSecurityContext.fromPartial(over);
  const run = (
    over: Partial<LinuxContainerSecurityContext>,
    extra: { privileged?: boolean; enabled?: boolean; unset?: string } = {},
  ) =>
    seccompFor({
      profile: requestedSeccomp(sc(over), extra.unset),
      privileged: extra.privileged ?? false,
      seccompEnabled: extra.enabled ?? true,
      spec: criBaseSpec('c'),
      platform: X64,
      host,
    });

  test('nothing asked: no profile', async () => {
    assert.equal(await run({}), undefined);
  });
  test('unset_seccomp_profile applies when nothing is asked', async () => {
    assert.equal((await run({}, { unset: 'runtime/default' }))?.defaultAction, 'SCMP_ACT_ERRNO');
  });
  test('runtime/default and docker/default paths, RuntimeDefault type', async () => {
    for (const path of ['runtime/default', 'docker/default']) {
      assert.equal((await run({ seccompProfilePath: path }))?.defaultAction, 'SCMP_ACT_ERRNO');
    }
    const p = await run({
      seccomp: { profileType: SecurityProfile_ProfileType.RuntimeDefault, localhostRef: '' },
    });
    assert.ok(p?.syscalls && p.syscalls.length > 5);
  });
  test('unconfined: none', async () => {
    assert.equal(await run({ seccompProfilePath: 'unconfined' }), undefined);
    assert.equal(
      await run({
        seccomp: { profileType: SecurityProfile_ProfileType.Unconfined, localhostRef: '' },
      }),
      undefined,
    );
  });
  test('the SecurityProfile wins over the deprecated path', async () => {
    const p = await run({
      seccomp: { profileType: SecurityProfile_ProfileType.Unconfined, localhostRef: '' },
      seccompProfilePath: 'runtime/default',
    });
    assert.equal(p, undefined);
  });
  test('privileged: none, whatever was asked', async () => {
    assert.equal(
      await run({ seccompProfilePath: 'runtime/default' }, { privileged: true }),
      undefined,
    );
  });
  test('localhost profile from a file, by path and by type', async () => {
    assert.deepEqual(await run({ seccompProfilePath: 'localhost//profiles/ok.json' }), {
      defaultAction: 'SCMP_ACT_ALLOW',
    });
    const p = await run({
      seccomp: {
        profileType: SecurityProfile_ProfileType.Localhost,
        localhostRef: '/profiles/ok.json',
      },
    });
    assert.equal(p?.defaultAction, 'SCMP_ACT_ALLOW');
  });
  test('a missing localhost profile names the file', async () => {
    await assert.rejects(
      run({ seccompProfilePath: 'localhost//profiles/none.json' }),
      (err: Error) =>
        isInvalidArgument(err) &&
        err.message ===
          'cannot load seccomp profile "/profiles/none.json": open /profiles/none.json: no such file or directory',
    );
  });
  test('bad JSON names the file', async () => {
    await assert.rejects(
      run({ seccompProfilePath: 'localhost//profiles/bad.json' }),
      (err: Error) =>
        isInvalidArgument(err) &&
        err.message.startsWith('decoding seccomp profile failed "/profiles/bad.json"'),
    );
    await assert.rejects(
      run({ seccompProfilePath: 'localhost//profiles/array.json' }),
      (err: Error) => isInvalidArgument(err) && /not a JSON object/.test(err.message),
    );
  });
  test('a directory is no profile', async () => {
    await assert.rejects(
      loadSeccompProfile('/profiles', host),
      (err: Error) => isInvalidArgument(err) && /is a directory/.test(err.message),
    );
  });
  test('an unknown profile string is invalid', async () => {
    await assert.rejects(
      async () => run({ seccompProfilePath: 'foo/bar' }),
      (err: Error) => isInvalidArgument(err) && err.message === 'invalid profile "foo/bar"',
    );
  });
  test('a localhostRef on another type is invalid', async () => {
    await assert.rejects(
      run({
        seccomp: { profileType: SecurityProfile_ProfileType.RuntimeDefault, localhostRef: '/x' },
      }),
      (err: Error) => isInvalidArgument(err) && /LocalhostRef must only be set/.test(err.message),
    );
  });
  test('without kernel seccomp: only unconfined or nothing is accepted', async () => {
    assert.equal(await run({}, { enabled: false }), undefined);
    assert.equal(await run({ seccompProfilePath: 'unconfined' }, { enabled: false }), undefined);
    await assert.rejects(
      run({ seccompProfilePath: 'runtime/default' }, { enabled: false }),
      /seccomp is not supported/,
    );
  });
  test('securityProfileOf', () => {
    assert.equal(securityProfileOf('').profileType, SecurityProfile_ProfileType.RuntimeDefault);
    assert.deepEqual(securityProfileOf('localhost/a/b'), {
      profileType: SecurityProfile_ProfileType.Localhost,
      localhostRef: 'a/b',
    });
  });
});

describe('apparmor on a machine without it', () => {
  test('nothing or unconfined is fine, anything else refused', () => {
    checkApparmorUnsupported(undefined);
    checkApparmorUnsupported(
      LinuxContainerSecurityContext.fromPartial({ apparmorProfile: 'unconfined' }),
    );
    assert.throws(
      () =>
        checkApparmorUnsupported(
          LinuxContainerSecurityContext.fromPartial({ apparmorProfile: 'runtime/default' }),
        ),
      /apparmor is not supported/,
    );
  });
});

describe('decodeSeccomp (Go encoding/json into runtime-spec LinuxSeccomp)', () => {
  test('known fields kept, unknown dropped, keys case-insensitive, null as absent', () => {
    assert.deepEqual(
      decodeSeccomp({
        DefaultAction: 'SCMP_ACT_ERRNO',
        defaultErrnoRet: 1,
        architectures: ['SCMP_ARCH_X86_64'],
        flags: null,
        comment: 'dropped',
        syscalls: [
          { names: ['read'], action: 'SCMP_ACT_ALLOW', args: [], includes: {} },
          {
            names: ['personality'],
            action: 'SCMP_ACT_ALLOW',
            args: [{ index: 0, value: 8, valueTwo: 0, op: 'SCMP_CMP_EQ' }],
          },
        ],
      }),
      {
        defaultAction: 'SCMP_ACT_ERRNO',
        defaultErrnoRet: 1,
        architectures: ['SCMP_ARCH_X86_64'],
        syscalls: [
          { names: ['read'], action: 'SCMP_ACT_ALLOW' },
          {
            names: ['personality'],
            action: 'SCMP_ACT_ALLOW',
            args: [{ index: 0, value: 8, op: 'SCMP_CMP_EQ' }],
          },
        ],
      },
    );
  });
  test('wrong types name the field', () => {
    assert.throws(() => decodeSeccomp({ defaultAction: 1 }), /defaultAction: not a string/);
    assert.throws(() => decodeSeccomp({ syscalls: {} }), /syscalls: not a list/);
    assert.throws(
      () => decodeSeccomp({ syscalls: [{ names: 'read' }] }),
      /syscalls\[0\]\.names: not a list/,
    );
    assert.throws(
      () => decodeSeccomp({ syscalls: [{ names: ['a'], args: [{ index: -1 }] }] }),
      /syscalls\[0\]\.args\[0\]\.index: not an unsigned integer/,
    );
  });
  test('an integer past 2^53 is refused rather than changed', () => {
    assert.throws(
      () =>
        decodeSeccomp(
          JSON.parse(
            '{"syscalls":[{"names":["x"],"args":[{"index":0,"value":18446744073709551615,"op":"SCMP_CMP_EQ"}]}]}',
          ),
        ),
      /value: .* past 2\^53/,
    );
  });
  test('the file error names the path', async () => {
    const host = new FakeHost({
      '/p.json': { kind: 'file', content: '{"syscalls":[{"names":"read"}]}' },
    });
    await assert.rejects(
      loadSeccompProfile('/p.json', host),
      (err: Error) =>
        isInvalidArgument(err) &&
        err.message === 'decoding seccomp profile failed "/p.json": syscalls[0].names: not a list',
    );
  });
});
