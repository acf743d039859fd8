/**
 * @module
 * The mounts every default Linux container gets (containerd's
 * `oci.defaultMounts`): /proc, a tmpfs /dev with devpts, shm and mqueue in
 * it, a read-only /sys and a tmpfs /run.
 */
import type { Mount } from './types.js';

/** A fresh copy of the default mounts, in containerd's order. */
export function defaultMounts(): Mount[] {
  return [
    {
      destination: '/proc',
      type: 'proc',
      source: 'proc',
      options: ['nosuid', 'noexec', 'nodev'],
    },
    {
      destination: '/dev',
      type: 'tmpfs',
      source: 'tmpfs',
      options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'],
    },
    {
      destination: '/dev/pts',
      type: 'devpts',
      source: 'devpts',
      options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', 'gid=5'],
    },
    {
      destination: '/dev/shm',
      type: 'tmpfs',
      source: 'shm',
      options: ['nosuid', 'noexec', 'nodev', 'mode=1777', 'size=65536k'],
    },
    {
      destination: '/dev/mqueue',
      type: 'mqueue',
      source: 'mqueue',
      options: ['nosuid', 'noexec', 'nodev'],
    },
    {
      destination: '/sys',
      type: 'sysfs',
      source: 'sysfs',
      options: ['nosuid', 'noexec', 'nodev', 'ro'],
    },
    {
      destination: '/run',
      type: 'tmpfs',
      source: 'tmpfs',
      options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'],
    },
  ];
}
