import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  type DeepPartial,
  NamespaceMode,
  PodSandboxConfig,
} from '../../api/k8s/cri/runtime/v1/api.js';
import { isInvalidArgument } from '../../core/errdefs/index.js';
import { buildSandboxSpec, type SandboxSpecInput } from './sandbox-spec.js';
import { FakeHost, testOptions } from './testing/fake-host.js';

const PAUSE = {
  User: '65535:65535',
  Entrypoint: ['/pause'],
  Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'],
};

function input(
  config: DeepPartial<PodSandboxConfig> = {},
  over: Partial<SandboxSpecInput> = {},
): SandboxSpecInput {
  return {
    id: 'sb1',
    config: PodSandboxConfig.fromPartial({
      metadata: { name: 'pod', uid: 'uid-1', namespace: 'ns', attempt: 0 },
      hostname: 'podhost',
      logDirectory: '/var/log/pods/x',
      ...config,
    }),
    image: PAUSE,
    netnsPath: '/run/berth/netns/cni-1',
    dir: '/root/sandboxes/sb1',
    shmPath: '/state/sandboxes/sb1/shm',
    options: testOptions(),
    host: new FakeHost(),
    ...over,
  };
}

describe('buildSandboxSpec (containerd sandboxContainerSpec)', () => {
  test('the pause container of a plain pod', async () => {
    const spec = await buildSandboxSpec(input());
    assert.equal(spec.ociVersion, '1.0.2-dev');
    assert.deepEqual(spec.process.args, ['/pause']);
    assert.deepEqual(spec.process.env, PAUSE.Env);
    assert.deepEqual(spec.process.user, { uid: 65535, gid: 65535, additionalGids: [65535] });
    assert.equal(spec.process.cwd, '/');
    assert.equal(spec.process.noNewPrivileges, true);
    assert.equal(spec.process.oomScoreAdj, -998);
    assert.equal(spec.process.rlimits, undefined);
    assert.deepEqual(spec.root, { path: 'rootfs', readonly: true });
    assert.equal(spec.hostname, 'podhost');
    assert.deepEqual(spec.linux.namespaces, [
      { type: 'pid' },
      { type: 'ipc' },
      { type: 'uts' },
      { type: 'mount' },
      { type: 'network', path: '/run/berth/netns/cni-1' },
    ]);
    assert.deepEqual(
      spec.mounts.map((m) => m.destination),
      [
        '/proc',
        '/dev',
        '/dev/pts',
        '/dev/shm',
        '/dev/mqueue',
        '/sys',
        '/dev/shm',
        '/etc/resolv.conf',
      ],
    );
    assert.deepEqual(spec.mounts.at(-2), {
      source: '/state/sandboxes/sb1/shm',
      destination: '/dev/shm',
      type: 'bind',
      options: ['rbind', 'ro'],
    });
    assert.deepEqual(spec.mounts.at(-1), {
      source: '/root/sandboxes/sb1/resolv.conf',
      destination: '/etc/resolv.conf',
      type: 'bind',
      options: ['rbind', 'ro'],
    });
    assert.equal(spec.linux.cgroupsPath, '/k8s.io/sb1');
    assert.equal(spec.linux.resources?.cpu?.shares, 2);
    assert.equal(spec.linux.seccomp, undefined);
    assert.equal(spec.linux.maskedPaths?.length, 10);
    assert.deepEqual(spec.linux.sysctl, {});
    assert.deepEqual(spec.annotations, {
      'io.kubernetes.cri.container-type': 'sandbox',
      'io.kubernetes.cri.sandbox-id': 'sb1',
      'io.kubernetes.cri.sandbox-namespace': 'ns',
      'io.kubernetes.cri.sandbox-uid': 'uid-1',
      'io.kubernetes.cri.sandbox-name': 'pod',
      'io.kubernetes.cri.sandbox-log-directory': '/var/log/pods/x',
    });
  });

  test('host network, PID and IPC', async () => {
    const spec = await buildSandboxSpec(
      input({
        linux: {
          securityContext: {
            namespaceOptions: {
              network: NamespaceMode.NODE,
              pid: NamespaceMode.NODE,
              ipc: NamespaceMode.NODE,
            },
          },
        },
      }),
    );
    assert.deepEqual(spec.linux.namespaces, [{ type: 'mount' }]);
    assert.equal(
      spec.mounts.find((m) => m.type === 'bind' && m.destination === '/dev/shm')?.source,
      '/dev/shm',
    );
  });

  test('host IPC needs no shm path; otherwise one is required', async () => {
    const ipcHost = input({
      linux: { securityContext: { namespaceOptions: { ipc: NamespaceMode.NODE } } },
    });
    delete ipcHost.shmPath;
    await buildSandboxSpec(ipcHost);
    const noShm = input();
    delete noShm.shmPath;
    await assert.rejects(buildSandboxSpec(noShm), isInvalidArgument);
  });

  test('network path may be filled in later', async () => {
    const i = input();
    delete i.netnsPath;
    const spec = await buildSandboxSpec(i);
    assert.deepEqual(spec.linux.namespaces?.at(-1), { type: 'network' });
  });

  test('pod run_as_user/group win over the image user; supplemental groups are reset by it (as containerd)', async () => {
    const spec = await buildSandboxSpec(
      input({
        linux: {
          securityContext: {
            runAsUser: { value: 1000n },
            runAsGroup: { value: 2000n },
            supplementalGroups: [3000n],
          },
        },
      }),
    );
    assert.deepEqual(spec.process.user, { uid: 1000, gid: 2000, additionalGids: [2000] });
  });

  test('an image without user keeps root and the supplemental groups', async () => {
    const spec = await buildSandboxSpec(
      input(
        { linux: { securityContext: { supplementalGroups: [30n, 10n] } } },
        { image: { Entrypoint: ['/pause'] } },
      ),
    );
    assert.deepEqual(spec.process.user, { uid: 0, gid: 0, additionalGids: [10, 30] });
  });

  test('a named image user resolves through the rootfs reader', async () => {
    const spec = await buildSandboxSpec(
      input(
        {},
        {
          image: { Entrypoint: ['/pause'], User: 'pause' },
          readRootfsFile: async (p) =>
            p === '/etc/passwd' ? Buffer.from('pause:x:99:98::/:/x\n') : undefined,
        },
      ),
    );
    assert.deepEqual(spec.process.user, { uid: 99, gid: 98, additionalGids: [98] });
  });

  test('cgroup parent, sysctls, resources annotations, pass-through', async () => {
    const spec = await buildSandboxSpec(
      input(
        {
          annotations: { 'io.katacontainers.x': 'y', other: 'z' },
          linux: {
            cgroupParent: '/kubepods/podx',
            sysctls: { 'net.ipv4.ip_forward': '0', 'kernel.shm_rmid_forced': '1' },
            resources: {
              cpuPeriod: 100000n,
              cpuQuota: 20000n,
              cpuShares: 1024n,
              memoryLimitInBytes: 1n << 30n,
            },
          },
        },
        {
          options: testOptions({
            podAnnotations: ['io.katacontainers.*'],
            enableUnprivilegedPorts: true,
          }),
        },
      ),
    );
    assert.equal(spec.linux.cgroupsPath, '/kubepods/podx/sb1');
    assert.deepEqual(spec.linux.sysctl, {
      'net.ipv4.ip_forward': '0',
      'kernel.shm_rmid_forced': '1',
      'net.ipv4.ip_unprivileged_port_start': '0',
    });
    assert.equal(spec.annotations?.['io.kubernetes.cri.sandbox-cpu-period'], '100000');
    assert.equal(spec.annotations?.['io.kubernetes.cri.sandbox-cpu-quota'], '20000');
    assert.equal(spec.annotations?.['io.kubernetes.cri.sandbox-cpu-shares'], '1024');
    assert.equal(spec.annotations?.['io.kubernetes.cri.sandbox-memory'], '1073741824');
    assert.equal(spec.annotations?.['io.katacontainers.x'], 'y');
    assert.equal(spec.annotations?.other, undefined);
  });

  test('unprivileged ports/icmp sysctls are not added to host-network pods nor over the pod own', async () => {
    const opts = testOptions({ enableUnprivilegedPorts: true, enableUnprivilegedIcmp: true });
    const host = await buildSandboxSpec(
      input(
        { linux: { securityContext: { namespaceOptions: { network: NamespaceMode.NODE } } } },
        { options: opts },
      ),
    );
    assert.deepEqual(host.linux.sysctl, {});
    const own = await buildSandboxSpec(
      input({ linux: { sysctls: { 'net.ipv4.ping_group_range': '1 1' } } }, { options: opts }),
    );
    assert.deepEqual(own.linux.sysctl, {
      'net.ipv4.ping_group_range': '1 1',
      'net.ipv4.ip_unprivileged_port_start': '0',
    });
  });

  test('oom_score_adj restricted to the daemon own', async () => {
    const spec = await buildSandboxSpec(
      input({}, { options: testOptions({ restrictOomScoreAdj: true, daemonOomScoreAdj: -500 }) }),
    );
    assert.equal(spec.process.oomScoreAdj, -500);
  });

  test('disable_cgroup: no cgroups path, no shares', async () => {
    const spec = await buildSandboxSpec(
      input({ linux: { cgroupParent: '/x' } }, { options: testOptions({ disableCgroup: true }) }),
    );
    assert.equal(spec.linux.cgroupsPath, '');
    assert.equal(spec.linux.resources?.cpu, undefined);
  });

  test('the pod seccomp profile, none when privileged', async () => {
    const sec = await buildSandboxSpec(
      input({ linux: { securityContext: { seccompProfilePath: 'runtime/default' } } }),
    );
    assert.equal(sec.linux.seccomp?.defaultAction, 'SCMP_ACT_ERRNO');
    const priv = await buildSandboxSpec(
      input({
        linux: { securityContext: { seccompProfilePath: 'runtime/default', privileged: true } },
      }),
    );
    assert.equal(priv.linux.seccomp, undefined);
  });

  test('image working dir and cmd', async () => {
    const spec = await buildSandboxSpec(
      input({}, { image: { Entrypoint: ['/a'], Cmd: ['b'], WorkingDir: '/w' } }),
    );
    assert.deepEqual(spec.process.args, ['/a', 'b']);
    assert.equal(spec.process.cwd, '/w');
  });

  test('an image without entrypoint and cmd is refused', async () => {
    await assert.rejects(
      buildSandboxSpec(input({}, { image: {} })),
      (err: Error) =>
        isInvalidArgument(err) && /invalid empty entrypoint and cmd/.test(err.message),
    );
  });

  test('no hostname: none in the spec', async () => {
    const spec = await buildSandboxSpec(input({ hostname: '' }));
    assert.equal('hostname' in spec, false);
  });
});
