import assert from 'node:assert/strict';
import { symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { tempDir } from '../../../test/helpers/tmp.js';
import { isInvalidArgument } from '../../core/errdefs/index.js';
import {
  deviceFromPath,
  devicesAt,
  hostDevices,
  major,
  minor,
  withDevices,
  withHostDevices,
  withLinuxDevice,
  withLinuxDeviceFollowSymlinks,
  withLinuxDevices,
} from './devices.js';
import { generateSpec, specClientWithoutContent } from './spec.js';
import type { SpecOpt } from './types.js';

const gen = (...opts: SpecOpt[]) =>
  generateSpec(specClientWithoutContent('ns'), { id: 'c' }, ...opts);
const NULL = { path: '/dev/null', type: 'c', major: 1, minor: 3, fileMode: 0o666, uid: 0, gid: 0 };

describe('host devices', () => {
  it('splits device numbers as glibc encodes them', () => {
    assert.equal(major(0x0103n), 1);
    assert.equal(minor(0x0103n), 3);
    // numbers past 8 bits: the high parts sit above bit 32 (major) and bit 20 (minor)
    assert.equal(major((0x123n << 8n) | (0x45000n << 32n)), 0x45123);
    assert.equal(minor(0x12n | (0x34500n << 12n)), 0x34512);
  });

  it('describes /dev/null, and refuses what is not a device', async () => {
    assert.deepEqual(await deviceFromPath('/dev/null'), NULL);
    await assert.rejects(deviceFromPath('/etc/hostname'), isInvalidArgument);
  });

  it('lists /dev without pts, shm, console or fifos', async () => {
    const devices = await hostDevices();
    assert.ok(devices.some((d) => d.path === '/dev/null' && d.major === 1 && d.minor === 3));
    assert.ok(devices.every((d) => !d.path.startsWith('/dev/pts/') && d.path !== '/dev/console'));
    assert.ok(devices.every((d) => d.type !== 'p'));
  });

  it('a single device can be renamed in the container', async () => {
    assert.deepEqual(await devicesAt('/dev/null', '/dev/mynull'), [
      { ...NULL, path: '/dev/mynull' },
    ]);
  });

  it('withLinuxDevice adds the node and allows it in the device cgroup', async () => {
    const spec = await gen(withLinuxDevice('/dev/null', 'rw'));
    assert.deepEqual(spec.linux?.devices, [NULL]);
    assert.deepEqual(spec.linux?.resources?.devices?.at(-1), {
      allow: true,
      type: 'c',
      major: 1,
      minor: 3,
      access: 'rw',
    });
    const dir = tempDir();
    try {
      const link = join(dir.path, 'null-link');
      symlinkSync('/dev/null', link);
      await assert.rejects(gen(withLinuxDevice(link, 'rwm')), isInvalidArgument);
      const followed = await gen(withLinuxDeviceFollowSymlinks(link, 'rwm'));
      assert.deepEqual(followed.linux?.devices, [NULL]);
    } finally {
      dir.remove();
    }
  });

  it('withDevices, withLinuxDevices and withHostDevices', async () => {
    const spec = await gen(
      withDevices('/dev/null', '/dev/x', 'r'),
      withLinuxDevices([{ ...NULL, path: '/dev/y' }]),
    );
    assert.deepEqual(
      spec.linux?.devices?.map((d) => d.path),
      ['/dev/x', '/dev/y'],
    );
    assert.equal(spec.linux?.resources?.devices?.length, 2);
    const host = await gen(withHostDevices());
    assert.ok((host.linux?.devices?.length ?? 0) > 3);
    // the host's nodes are created, not allowed: that is withAllDevicesAllowed's part
    assert.deepEqual(host.linux?.resources?.devices, [{ allow: false, access: 'rwm' }]);
  });
});
