import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ContainerConfig } from '../../api/k8s/cri/runtime/v1/api.js';
import { isInvalidArgument } from '../../core/errdefs/index.js';
import { criBaseSpec } from './defaults.js';
import { applyConfigDevices, hostDevices, major, minor } from './devices.js';
import { FakeHost, mkdev } from './testing/fake-host.js';

function host() {
  return new FakeHost({
    '/dev/null': { kind: 'chr', major: 1, minor: 3, perm: 0o666 },
    '/dev/zero': { kind: 'chr', major: 1, minor: 5 },
    '/dev/sda': { kind: 'blk', major: 8, minor: 0, perm: 0o660, gid: 6 },
    '/dev/console': { kind: 'chr', major: 5, minor: 1 },
    '/dev/initctl': { kind: 'fifo', major: 0, minor: 0 },
    '/dev/stdin': { kind: 'symlink', target: '/proc/self/fd/0' },
    '/dev/fuse-link': { kind: 'symlink', target: '/dev/fuse' },
    '/dev/fuse': { kind: 'chr', major: 10, minor: 229 },
    '/dev/pts/0': { kind: 'chr', major: 136, minor: 0 },
    '/dev/shm/x': { kind: 'file' },
    '/dev/snd/timer': { kind: 'chr', major: 116, minor: 33 },
    '/dev/big': { kind: 'chr', major: 4095, minor: 1048575 },
    '/dev/regular': { kind: 'file' },
  });
}

const cfg = (
  devices: { containerPath: string; hostPath: string; permissions: string }[],
  over = {},
) => ContainerConfig.fromPartial({ devices, ...over });

describe('device numbers', () => {
  test('major/minor round-trip with Go encoding, large numbers', () => {
    for (const [ma, mi] of [
      [1, 3],
      [8, 0],
      [259, 1],
      [4095, 1048575],
    ] as const) {
      const dev = mkdev(ma, mi);
      assert.equal(major(dev), ma);
      assert.equal(minor(dev), mi);
    }
  });
});

describe('config devices (containerd WithDevices)', () => {
  test('a node at its container path, allowed with its permissions', async () => {
    const spec = criBaseSpec('c');
    await applyConfigDevices(
      spec,
      cfg([{ containerPath: '/dev/xnull', hostPath: '/dev/null', permissions: 'rw' }]),
      host(),
      false,
    );
    assert.deepEqual(spec.linux.devices, [
      { path: '/dev/xnull', type: 'c', major: 1, minor: 3, fileMode: 0o666, uid: 0, gid: 0 },
    ]);
    assert.deepEqual(spec.linux.resources?.devices, [
      { allow: false, access: 'rwm' },
      { allow: true, type: 'c', major: 1, minor: 3, access: 'rw' },
    ]);
  });
  test('a symlinked host path is resolved first', async () => {
    const spec = criBaseSpec('c');
    await applyConfigDevices(
      spec,
      cfg([{ containerPath: '/dev/fuse', hostPath: '/dev/fuse-link', permissions: 'rwm' }]),
      host(),
      false,
    );
    assert.deepEqual(
      spec.linux.devices?.map((d) => [d.path, d.major, d.minor]),
      [['/dev/fuse', 10, 229]],
    );
  });
  test('a directory: its nodes renamed under the container path', async () => {
    const spec = criBaseSpec('c');
    await applyConfigDevices(
      spec,
      cfg([{ containerPath: '/dev/sound', hostPath: '/dev/snd', permissions: 'r' }]),
      host(),
      false,
    );
    assert.deepEqual(
      spec.linux.devices?.map((d) => d.path),
      ['/dev/sound/timer'],
    );
  });
  test('ownership from the security context when enabled', async () => {
    const config = cfg([{ containerPath: '/dev/sda', hostPath: '/dev/sda', permissions: 'rw' }], {
      linux: { securityContext: { runAsUser: { value: 1000n }, runAsGroup: { value: 0n } } },
    });
    const spec = criBaseSpec('c');
    await applyConfigDevices(spec, config, host(), true);
    assert.deepEqual([spec.linux.devices?.[0]?.uid, spec.linux.devices?.[0]?.gid], [1000, 6]);
    const plain = criBaseSpec('c');
    await applyConfigDevices(plain, config, host(), false);
    assert.equal(plain.linux.devices?.[0]?.uid, 0);
  });
  test('a missing device is a clear error', async () => {
    await assert.rejects(
      applyConfigDevices(
        criBaseSpec('c'),
        cfg([{ containerPath: '/dev/x', hostPath: '/dev/nothing', permissions: 'rw' }]),
        host(),
        false,
      ),
      (err: Error) =>
        isInvalidArgument(err) && /\/dev\/nothing: no such file or directory/.test(err.message),
    );
  });
  test('a regular file is not a device', async () => {
    await assert.rejects(
      applyConfigDevices(
        criBaseSpec('c'),
        cfg([{ containerPath: '/dev/x', hostPath: '/dev/regular', permissions: 'rw' }]),
        host(),
        false,
      ),
      (err: Error) => isInvalidArgument(err) && /not a device node/.test(err.message),
    );
  });
});

describe('host devices (privileged)', () => {
  test('every node of /dev but pts, shm, console, fifos and symlinks, in name order', async () => {
    const devs = await hostDevices(host());
    assert.deepEqual(
      devs.map((d) => d.path),
      ['/dev/big', '/dev/fuse', '/dev/null', '/dev/sda', '/dev/snd/timer', '/dev/zero'],
    );
    assert.equal(devs.find((d) => d.path === '/dev/sda')?.type, 'b');
  });
});
