import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  ContainerConfig,
  type DeepPartial,
  MountPropagation,
  NamespaceMode,
  PodSandboxConfig,
} from '../../api/k8s/cri/runtime/v1/api.js';
import { isInvalidArgument, isNotFound } from '../../core/errdefs/index.js';
import { buildContainerSpec, type ContainerSpecInput } from './container-spec.js';
import { defaultUnixCaps } from './defaults.js';
import { FakeHost, mountInfoLine, testOptions } from './testing/fake-host.js';

const IMAGE = {
  Env: ['PATH=/usr/bin:/bin', 'IMG=1', 'SHARED=image'],
  Entrypoint: ['/entry'],
  Cmd: ['serve'],
  WorkingDir: '/srv',
};
const PASSWD = 'root:x:0:0::/root:/bin/sh\nweb:x:33:33::/srv:/bin/sh\n';
const GROUP = 'root:x:0:\nweb:x:33:\nwheel:x:10:root,web\n';

function host() {
  const h = new FakeHost({
    '/sb/hostname': { kind: 'file' },
    '/sb/hosts': { kind: 'file' },
    '/sb/resolv.conf': { kind: 'file' },
    '/shm/sb': { kind: 'dir' },
    '/data': { kind: 'dir' },
    '/dev/null': { kind: 'chr', major: 1, minor: 3 },
    '/dev/kvm': { kind: 'chr', major: 10, minor: 232 },
    '/profiles/p.json': { kind: 'file', content: '{"defaultAction":"SCMP_ACT_LOG"}' },
  });
  h.mountInfoText = [mountInfoLine(1, '/'), mountInfoLine(2, '/data', ['shared:3'])].join('\n');
  return h;
}

function sandboxConfig(over: DeepPartial<PodSandboxConfig> = {}) {
  return PodSandboxConfig.fromPartial({
    metadata: { name: 'pod', uid: 'u1', namespace: 'ns', attempt: 0 },
    hostname: 'podhost',
    ...over,
  });
}

function input(
  config: DeepPartial<ContainerConfig> = {},
  over: Partial<ContainerSpecInput> = {},
): ContainerSpecInput {
  return {
    id: 'c1',
    sandbox: { id: 'sb1', pid: 4242, config: sandboxConfig(), dir: '/sb', shmPath: '/shm/sb' },
    config: ContainerConfig.fromPartial({ metadata: { name: 'app', attempt: 0 }, ...config }),
    image: IMAGE,
    imageName: 'docker.io/library/app:1',
    readRootfsFile: async (p) =>
      p === '/etc/passwd'
        ? Buffer.from(PASSWD)
        : p === '/etc/group'
          ? Buffer.from(GROUP)
          : undefined,
    options: testOptions(),
    host: host(),
    ...over,
  };
}

describe('buildContainerSpec (containerd containerSpec + containerSpecOpts)', () => {
  test('a plain container', async () => {
    const spec = await buildContainerSpec(
      input({
        envs: [
          { key: 'SHARED', value: 'config' },
          { key: 'NEW', value: 'x' },
        ],
      }),
    );
    assert.deepEqual(spec.process.args, ['/entry', 'serve']);
    assert.deepEqual(spec.process.env, [
      'PATH=/usr/bin:/bin',
      'HOSTNAME=podhost',
      'IMG=1',
      'SHARED=image',
      'SHARED=config',
      'NEW=x',
    ]);
    assert.equal(spec.process.cwd, '/srv');
    assert.equal(spec.process.terminal, undefined);
    assert.equal(spec.process.noNewPrivileges, undefined);
    assert.deepEqual(spec.process.user, { uid: 0, gid: 0, additionalGids: [0, 10] });
    assert.deepEqual(spec.process.capabilities?.bounding, defaultUnixCaps());
    assert.equal(spec.process.capabilities?.ambient, undefined);
    assert.equal(spec.process.rlimits, undefined);
    assert.equal(spec.process.oomScoreAdj, undefined);
    assert.deepEqual(spec.root, { path: 'rootfs' });
    assert.deepEqual(spec.linux.namespaces, [
      { type: 'pid', path: '/proc/4242/ns/pid' },
      { type: 'ipc', path: '/proc/4242/ns/ipc' },
      { type: 'uts', path: '/proc/4242/ns/uts' },
      { type: 'mount' },
      { type: 'network', path: '/proc/4242/ns/net' },
    ]);
    assert.deepEqual(spec.linux.maskedPaths, []);
    assert.deepEqual(spec.linux.readonlyPaths, []);
    assert.equal(spec.linux.cgroupsPath, '/k8s.io/c1');
    assert.equal(spec.linux.seccomp, undefined);
    assert.deepEqual(
      spec.mounts.map((m) => m.destination),
      [
        '/proc',
        '/dev',
        '/dev/pts',
        '/dev/mqueue',
        '/sys',
        '/sys/fs/cgroup',
        '/etc/hostname',
        '/etc/hosts',
        '/etc/resolv.conf',
        '/dev/shm',
      ],
    );
    assert.deepEqual(spec.annotations, {
      'io.kubernetes.cri.container-type': 'container',
      'io.kubernetes.cri.sandbox-id': 'sb1',
      'io.kubernetes.cri.sandbox-namespace': 'ns',
      'io.kubernetes.cri.sandbox-uid': 'u1',
      'io.kubernetes.cri.sandbox-name': 'pod',
      'io.kubernetes.cri.container-name': 'app',
      'io.kubernetes.cri.image-name': 'docker.io/library/app:1',
    });
    // runc reads it: it must survive JSON
    assert.deepEqual(JSON.parse(JSON.stringify(spec)), spec);
  });

  test('tty, working dir, command, HOSTNAME from the host when the pod has none', async () => {
    const spec = await buildContainerSpec(
      input(
        { tty: true, workingDir: '/w', command: ['/bin/sh'], args: ['-c', 'true'] },
        {
          sandbox: {
            id: 'sb1',
            pid: 7,
            config: sandboxConfig({ hostname: '' }),
            dir: '/sb',
            shmPath: '/shm/sb',
          },
          hostHostname: 'node1',
          image: { Entrypoint: ['/e'] },
        },
      ),
    );
    assert.equal(spec.process.terminal, true);
    assert.deepEqual(spec.process.env, [
      'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
      'TERM=xterm',
      'HOSTNAME=node1',
    ]);
    assert.equal(spec.process.cwd, '/w');
    assert.deepEqual(spec.process.args, ['/bin/sh', '-c', 'true']);
  });

  test('no working dir anywhere: /', async () => {
    const spec = await buildContainerSpec(input({}, { image: { Cmd: ['/x'] } }));
    assert.equal(spec.process.cwd, '/');
  });

  test('security context: user, caps, no_new_privs, read-only rootfs, masked and read-only paths', async () => {
    const spec = await buildContainerSpec(
      input({
        linux: {
          securityContext: {
            runAsUsername: 'web',
            supplementalGroups: [500n],
            capabilities: {
              addCapabilities: ['NET_ADMIN'],
              dropCapabilities: ['KILL'],
              addAmbientCapabilities: [],
            },
            noNewPrivs: true,
            readonlyRootfs: true,
            maskedPaths: ['/proc/kcore'],
            readonlyPaths: ['/proc/sys'],
          },
        },
      }),
    );
    assert.deepEqual(spec.process.user, { uid: 33, gid: 33, additionalGids: [10, 33, 500] });
    assert.ok(spec.process.capabilities?.bounding?.includes('CAP_NET_ADMIN'));
    assert.ok(!spec.process.capabilities?.effective?.includes('CAP_KILL'));
    assert.equal(spec.process.noNewPrivileges, true);
    assert.equal(spec.root.readonly, true);
    assert.deepEqual(spec.linux.maskedPaths, ['/proc/kcore']);
    assert.deepEqual(spec.linux.readonlyPaths, ['/proc/sys']);
    assert.ok(spec.mounts.find((m) => m.destination === '/etc/hosts')?.options?.includes('ro'));
  });

  test('disable_proc_mount keeps the default masked paths', async () => {
    const spec = await buildContainerSpec(
      input({}, { options: testOptions({ disableProcMount: true }) }),
    );
    assert.equal(spec.linux.maskedPaths?.length, 10);
  });

  test('an unknown user fails not_found', async () => {
    await assert.rejects(
      buildContainerSpec(input({ linux: { securityContext: { runAsUsername: 'ghost' } } })),
      (err: Error) => isNotFound(err) && /ghost/.test(err.message),
    );
    await assert.rejects(
      buildContainerSpec(input({}, { image: { ...IMAGE, User: 'ghost' } })),
      isNotFound,
    );
  });

  test('privileged in a privileged pod', async () => {
    const spec = await buildContainerSpec(
      input(
        {
          linux: {
            securityContext: {
              privileged: true,
              seccompProfilePath: 'runtime/default',
              maskedPaths: ['/proc/kcore'],
            },
          },
        },
        {
          sandbox: {
            id: 'sb1',
            pid: 1,
            config: sandboxConfig({ linux: { securityContext: { privileged: true } } }),
            dir: '/sb',
            shmPath: '/shm/sb',
          },
          options: testOptions({ cgroupV2: true }),
        },
      ),
    );
    assert.deepEqual(spec.process.capabilities?.bounding, testOptions().daemonCapabilities);
    assert.equal(spec.linux.maskedPaths, undefined);
    assert.equal(spec.linux.readonlyPaths, undefined);
    assert.equal(spec.linux.seccomp, undefined);
    assert.deepEqual(
      spec.linux.devices?.map((d) => d.path),
      ['/dev/kvm', '/dev/null'],
    );
    assert.deepEqual(spec.linux.resources?.devices, [{ allow: true, access: 'rwm' }]);
    assert.deepEqual(spec.mounts.find((m) => m.type === 'sysfs')?.options, [
      'nosuid',
      'noexec',
      'nodev',
      'rw',
    ]);
    assert.ok(spec.mounts.find((m) => m.type === 'cgroup')?.options?.includes('rw'));
    assert.ok(!spec.linux.namespaces?.some((n) => n.type === 'cgroup'));
  });

  test('privileged_without_host_devices', async () => {
    const spec = await buildContainerSpec(
      input(
        { linux: { securityContext: { privileged: true } } },
        {
          sandbox: {
            id: 's',
            pid: 1,
            config: sandboxConfig({ linux: { securityContext: { privileged: true } } }),
            dir: '/sb',
            shmPath: '/shm/sb',
          },
          options: testOptions({ privilegedWithoutHostDevices: true }),
        },
      ),
    );
    assert.equal(spec.linux.devices, undefined);
    assert.deepEqual(spec.linux.resources?.devices, [{ allow: false, access: 'rwm' }]);
  });

  test('privileged in an unprivileged pod is refused', async () => {
    await assert.rejects(
      buildContainerSpec(input({ linux: { securityContext: { privileged: true } } })),
      (err: Error) =>
        isInvalidArgument(err) && err.message === 'no privileged container allowed in sandbox',
    );
  });

  test('cgroup v2: a cgroup namespace', async () => {
    const spec = await buildContainerSpec(input({}, { options: testOptions({ cgroupV2: true }) }));
    assert.deepEqual(spec.linux.namespaces?.at(-1), { type: 'cgroup' });
  });

  test('PID namespace modes', async () => {
    const mode = async (pid: NamespaceMode, targetId = '') =>
      (
        await buildContainerSpec(
          input(
            {
              linux: {
                securityContext: { namespaceOptions: { pid, network: 0, ipc: 0, targetId } },
              },
            },
            {
              targetPid: async (id) => {
                if (id !== 'other') throw new Error(`container "${id}" not found`);
                return 999;
              },
            },
          ),
        )
      ).linux.namespaces?.find((n) => n.type === 'pid');
    assert.deepEqual(await mode(NamespaceMode.POD), { type: 'pid', path: '/proc/4242/ns/pid' });
    assert.deepEqual(await mode(NamespaceMode.CONTAINER), { type: 'pid' });
    assert.deepEqual(await mode(NamespaceMode.NODE), { type: 'pid', path: '/proc/4242/ns/pid' });
    assert.deepEqual(await mode(NamespaceMode.TARGET, 'other'), {
      type: 'pid',
      path: '/proc/999/ns/pid',
    });
    await assert.rejects(
      mode(NamespaceMode.TARGET, 'nope'),
      (err: Error) =>
        isInvalidArgument(err) &&
        err.message === 'invalid target container: container "nope" not found',
    );
  });

  test('resources, oom restricted, cgroup parent', async () => {
    const spec = await buildContainerSpec(
      input(
        {
          linux: {
            resources: { cpuShares: 256n, memoryLimitInBytes: 1000000n, oomScoreAdj: -999n },
          },
        },
        {
          sandbox: {
            id: 'sb1',
            pid: 2,
            config: sandboxConfig({ linux: { cgroupParent: '/kubepods/pod1' } }),
            dir: '/sb',
            shmPath: '/shm/sb',
          },
          options: testOptions({ restrictOomScoreAdj: true, daemonOomScoreAdj: -10 }),
        },
      ),
    );
    assert.equal(spec.linux.resources?.cpu?.shares, 256);
    assert.equal(spec.linux.resources?.memory?.limit, 1000000);
    assert.equal(spec.process.oomScoreAdj, -10);
    assert.equal(spec.linux.cgroupsPath, '/kubepods/pod1/c1');
  });

  test('mounts with propagation, image volumes, config overriding /etc/hosts', async () => {
    const h = host();
    const spec = await buildContainerSpec(
      input(
        {
          mounts: [
            {
              containerPath: '/data',
              hostPath: '/data',
              readonly: false,
              selinuxRelabel: true,
              propagation: MountPropagation.PROPAGATION_BIDIRECTIONAL,
            },
            {
              containerPath: '/etc/hosts',
              hostPath: '/data/hosts',
              readonly: true,
              selinuxRelabel: false,
              propagation: MountPropagation.PROPAGATION_PRIVATE,
            },
          ],
        },
        {
          host: h,
          volumeMounts: [
            {
              containerPath: '/cache',
              hostPath: '/c1/volumes/v1',
              readonly: false,
              selinuxRelabel: true,
              propagation: 0,
            },
          ],
        },
      ),
    );
    assert.equal(spec.linux.rootfsPropagation, 'rshared');
    const hosts = spec.mounts.filter((m) => m.destination === '/etc/hosts');
    assert.deepEqual(hosts, [
      {
        source: '/data/hosts',
        destination: '/etc/hosts',
        type: 'bind',
        options: ['rbind', 'rprivate', 'ro'],
      },
    ]);
    assert.ok(spec.mounts.some((m) => m.destination === '/cache' && m.source === '/c1/volumes/v1'));
    assert.ok(
      h.created.includes('/data/hosts'),
      'containerd creates a missing host path as a directory',
    );
  });

  test('a bad mount fails invalid_argument', async () => {
    await assert.rejects(
      buildContainerSpec(
        input({
          mounts: [
            {
              containerPath: '/x',
              hostPath: '/sb',
              readonly: false,
              selinuxRelabel: false,
              propagation: MountPropagation.PROPAGATION_BIDIRECTIONAL,
            },
          ],
        }),
      ),
      (err: Error) => isInvalidArgument(err) && /not a shared mount/.test(err.message),
    );
  });

  test('devices', async () => {
    const spec = await buildContainerSpec(
      input({ devices: [{ containerPath: '/dev/k', hostPath: '/dev/kvm', permissions: 'rwm' }] }),
    );
    assert.deepEqual(
      spec.linux.devices?.map((d) => [d.path, d.major, d.minor]),
      [['/dev/k', 10, 232]],
    );
    await assert.rejects(
      buildContainerSpec(
        input({
          devices: [{ containerPath: '/dev/k', hostPath: '/dev/none', permissions: 'rwm' }],
        }),
      ),
      isInvalidArgument,
    );
  });

  test('seccomp: default after capabilities, localhost, bad localhost', async () => {
    const def = await buildContainerSpec(
      input({
        linux: {
          securityContext: {
            seccompProfilePath: 'runtime/default',
            capabilities: {
              addCapabilities: ['SYS_ADMIN'],
              dropCapabilities: [],
              addAmbientCapabilities: [],
            },
          },
        },
      }),
    );
    assert.ok(def.linux.seccomp?.syscalls?.some((s) => s.names.includes('mount')));
    const local = await buildContainerSpec(
      input({ linux: { securityContext: { seccompProfilePath: 'localhost//profiles/p.json' } } }),
    );
    assert.deepEqual(local.linux.seccomp, { defaultAction: 'SCMP_ACT_LOG' });
    await assert.rejects(
      buildContainerSpec(
        input({
          linux: { securityContext: { seccompProfilePath: 'localhost//profiles/none.json' } },
        }),
      ),
      (err: Error) =>
        isInvalidArgument(err) &&
        /cannot load seccomp profile "\/profiles\/none.json"/.test(err.message),
    );
  });

  test('pass-through annotations of pod and container', async () => {
    const spec = await buildContainerSpec(
      input(
        { annotations: { 'c.keep': '1', drop: '2' } },
        {
          sandbox: {
            id: 'sb1',
            pid: 2,
            config: sandboxConfig({ annotations: { 'p.keep': '3' } }),
            dir: '/sb',
            shmPath: '/shm/sb',
          },
          options: testOptions({ podAnnotations: ['p.*'], containerAnnotations: ['c.*'] }),
        },
      ),
    );
    assert.equal(spec.annotations?.['c.keep'], '1');
    assert.equal(spec.annotations?.['p.keep'], '3');
    assert.equal(spec.annotations?.drop, undefined);
  });

  test('no command at all is refused', async () => {
    await assert.rejects(
      buildContainerSpec(input({}, { image: {} })),
      (err: Error) => isInvalidArgument(err) && /no command specified/.test(err.message),
    );
  });
});
