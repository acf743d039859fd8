import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { tempDir } from '../../../test/helpers/tmp.js';
import { isNotFound } from '../../core/errdefs/index.js';
import { replaceOrAppendEnvValues } from './env.js';
import { DEFAULT_UNIX_ENV, generateSpec, specClientWithoutContent } from './spec.js';
import {
  withAnnotations,
  withCgroup,
  withDefaultPathEnv,
  withDevShmSize,
  withDomainname,
  withEnv,
  withEnvFile,
  withHostHostsFile,
  withHostLocaltime,
  withHostNamespace,
  withHostname,
  withHostResolvconf,
  withLinuxNamespace,
  withMounts,
  withNamespacedCgroup,
  withNewPrivileges,
  withNoNewPrivileges,
  withoutMounts,
  withoutRunMount,
  withProcessArgs,
  withProcessCwd,
  withRootFSPath,
  withRootFSReadonly,
  withTTY,
  withTTYSize,
  withUserNamespace,
} from './spec-opts.js';
import type { Spec, SpecOpt } from './types.js';

const client = specClientWithoutContent('ns');
const gen = (...opts: SpecOpt[]) => generateSpec(client, { id: 'c' }, ...opts);
/** An option applied to a spec with no sections at all. */
async function onEmpty(opt: SpecOpt): Promise<Spec> {
  const spec: Spec = { ociVersion: '1.1.0' };
  await opt(client, { id: 'c' }, spec);
  return spec;
}

describe('environment', () => {
  it('replaceOrAppendEnvValues replaces in place, appends, unsets and drops empties', () => {
    assert.deepEqual(
      replaceOrAppendEnvValues(['A=1', 'B=2', 'C=3', ''], ['B=20', 'D=4', 'A', 'D=5', 'X']),
      ['B=20', 'C=3', 'D=4', 'D=5'],
    );
    // a key given twice in the defaults: the later one is replaced
    assert.deepEqual(replaceOrAppendEnvValues(['A=1', 'A=2'], ['A=3']), ['A=1', 'A=3']);
    // values may hold "="
    assert.deepEqual(replaceOrAppendEnvValues(['A=x=y'], ['A=b=c']), ['A=b=c']);
  });

  it('withEnv merges into the process env; an empty list changes nothing', async () => {
    const spec = await gen(withEnv(['A=1', 'B=2']), withEnv(['A=3', 'B']), withEnv([]));
    assert.deepEqual(spec.process?.env, ['A=3']);
    const gone = await gen(withEnv(['A=1']), withEnv(['A']));
    assert.equal(gone.process?.env, undefined);
    assert.deepEqual((await onEmpty(withEnv(['A=1']))).process, {
      user: { uid: 0, gid: 0 },
      cwd: '',
      env: ['A=1'],
    });
  });

  it('withDefaultPathEnv adds PATH only where missing', async () => {
    assert.deepEqual((await gen(withDefaultPathEnv())).process?.env, DEFAULT_UNIX_ENV);
    assert.deepEqual((await gen(withEnv(['PATH=/x']), withDefaultPathEnv())).process?.env, [
      DEFAULT_UNIX_ENV[0],
    ]);
  });

  it('withEnvFile reads K=v lines from the client host', async () => {
    const dir = tempDir();
    try {
      const file = join(dir.path, 'env');
      writeFileSync(file, 'A=1\r\nB=2\nC\n');
      assert.deepEqual((await gen(withEnv(['C=0']), withEnvFile(file))).process?.env, [
        'A=1',
        'B=2',
      ]);
    } finally {
      dir.remove();
    }
  });
});

describe('process', () => {
  it('withProcessArgs replaces the args; none leaves them out', async () => {
    assert.deepEqual((await gen(withProcessArgs('a'), withProcessArgs('b', 'c'))).process?.args, [
      'b',
      'c',
    ]);
    assert.equal((await gen(withProcessArgs('a'), withProcessArgs())).process?.args, undefined);
  });

  it('withProcessCwd', async () => {
    assert.equal((await gen(withProcessCwd('/srv'))).process?.cwd, '/srv');
  });

  it('withTTY sets a terminal and appends TERM=xterm on Linux only', async () => {
    const spec = await gen(withEnv(['TERM=vt100']), withTTY());
    assert.equal(spec.process?.terminal, true);
    assert.deepEqual(spec.process?.env, ['TERM=vt100', 'TERM=xterm']);
    const bare = await onEmpty(withTTY());
    assert.equal(bare.process?.terminal, true);
    assert.equal(bare.process?.env, undefined);
  });

  it('withTTYSize', async () => {
    assert.deepEqual((await gen(withTTYSize(80, 24))).process?.consoleSize, {
      height: 24,
      width: 80,
    });
  });

  it('withNewPrivileges and withNoNewPrivileges', async () => {
    assert.equal((await gen(withNewPrivileges())).process?.noNewPrivileges, undefined);
    assert.equal(
      (await gen(withNewPrivileges(), withNoNewPrivileges())).process?.noNewPrivileges,
      true,
    );
  });
});

describe('names, root and cgroup', () => {
  it('withHostname and withDomainname; empty removes', async () => {
    const spec = await gen(withHostname('h'), withDomainname('d'));
    assert.equal(spec.hostname, 'h');
    assert.equal(spec.domainname, 'd');
    const cleared = await gen(withHostname('h'), withHostname(''), withDomainname(''));
    assert.equal('hostname' in cleared, false);
    assert.equal('domainname' in cleared, false);
  });

  it('withRootFSPath and withRootFSReadonly', async () => {
    assert.deepEqual((await gen(withRootFSPath('/r'), withRootFSReadonly())).root, {
      path: '/r',
      readonly: true,
    });
    assert.deepEqual((await onEmpty(withRootFSReadonly())).root, { path: '', readonly: true });
  });

  it('withCgroup and withNamespacedCgroup', async () => {
    assert.equal((await gen(withCgroup('/x/y'))).linux?.cgroupsPath, '/x/y');
    assert.equal((await gen(withCgroup(''))).linux?.cgroupsPath, undefined);
    assert.equal((await gen(withCgroup('/x'), withNamespacedCgroup())).linux?.cgroupsPath, '/ns/c');
  });

  it('withAnnotations adds and replaces', async () => {
    const spec = await gen(withAnnotations({ a: '1', b: '2' }), withAnnotations({ b: '3' }));
    assert.deepEqual(spec.annotations, { a: '1', b: '3' });
    assert.equal((await gen(withAnnotations({}))).annotations, undefined);
  });
});

describe('mounts', () => {
  const bind = {
    destination: '/data',
    type: 'bind',
    source: '/srv/data',
    options: ['rbind', 'ro'],
  };

  it('withMounts appends copies', async () => {
    const spec = await gen(withMounts([bind]));
    assert.deepEqual(spec.mounts?.at(-1), bind);
    spec.mounts?.at(-1)?.options?.push('x');
    assert.deepEqual(bind.options, ['rbind', 'ro']);
  });

  it('withoutMounts removes by cleaned destination; withoutRunMount removes /run', async () => {
    const spec = await gen(
      withMounts([{ ...bind, destination: '/data/' }]),
      withoutMounts('/data', '/dev/mqueue'),
      withoutRunMount(),
    );
    assert.deepEqual(
      spec.mounts?.map((m) => m.destination),
      ['/proc', '/dev', '/dev/pts', '/dev/shm', '/sys'],
    );
  });

  it('withDevShmSize sets the size of /dev/shm, or fails without one', async () => {
    const spec = await gen(withDevShmSize(1024));
    assert.deepEqual(spec.mounts?.find((m) => m.destination === '/dev/shm')?.options, [
      'nosuid',
      'noexec',
      'nodev',
      'mode=1777',
      'size=1024k',
    ]);
    await assert.rejects(gen(withoutMounts('/dev/shm'), withDevShmSize(1)), isNotFound);
  });

  it('the host files are read-only binds', async () => {
    const spec = await gen(withHostHostsFile(), withHostResolvconf(), withHostLocaltime());
    assert.deepEqual(spec.mounts?.slice(-3), [
      { destination: '/etc/hosts', type: 'bind', source: '/etc/hosts', options: ['rbind', 'ro'] },
      {
        destination: '/etc/resolv.conf',
        type: 'bind',
        source: '/etc/resolv.conf',
        options: ['rbind', 'ro'],
      },
      {
        destination: '/etc/localtime',
        type: 'bind',
        source: '/etc/localtime',
        options: ['rbind', 'ro'],
      },
    ]);
  });
});

describe('namespaces', () => {
  it('withHostNamespace removes only that namespace, and adds no mounts', async () => {
    const spec = await gen(withHostNamespace('network'), withHostNamespace('user'));
    assert.deepEqual(
      spec.linux?.namespaces?.map((n) => n.type),
      ['pid', 'ipc', 'uts', 'mount'],
    );
    assert.equal(spec.mounts?.length, 7);
    const none = await gen(
      ...(['pid', 'ipc', 'uts', 'mount', 'network'] as const).map(withHostNamespace),
    );
    assert.equal(none.linux?.namespaces, undefined);
  });

  it('withLinuxNamespace replaces the namespace of its type, or adds it', async () => {
    const spec = await gen(
      withLinuxNamespace({ type: 'network', path: '/var/run/netns/x' }),
      withLinuxNamespace({ type: 'cgroup' }),
    );
    assert.deepEqual(spec.linux?.namespaces, [
      { type: 'pid' },
      { type: 'ipc' },
      { type: 'uts' },
      { type: 'mount' },
      { type: 'network', path: '/var/run/netns/x' },
      { type: 'cgroup' },
    ]);
  });

  it('withUserNamespace adds the namespace once and the mappings each time', async () => {
    const map = { containerID: 0, hostID: 100000, size: 65536 };
    const spec = await gen(withUserNamespace([map], [map]), withUserNamespace([map], []));
    assert.equal(spec.linux?.namespaces?.filter((n) => n.type === 'user').length, 1);
    assert.equal(spec.linux?.uidMappings?.length, 2);
    assert.equal(spec.linux?.gidMappings?.length, 1);
  });
});
