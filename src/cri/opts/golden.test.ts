/**
 * The builders against containerd 1.6.20's own output: testdata/golden-specs.json
 * was written by containerd's pkg/cri/server code (testdata/gen-golden.sh runs
 * testdata/golden_gen_test.go.txt inside it) for the same inputs as here, on
 * a cgroup v1 amd64 host with kernel >= 4.8, the swap controller and no
 * hugetlb controller. Empty values are dropped on both sides, as Go's
 * omitempty drops them.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import {
  ContainerConfig,
  type DeepPartial,
  type LinuxPodSandboxConfig,
  MountPropagation,
  NamespaceMode,
  PodSandboxConfig,
  SecurityProfile_ProfileType,
} from '../../api/k8s/cri/runtime/v1/api.js';
import { buildContainerSpec } from './container-spec.js';
import { buildSandboxSpec } from './sandbox-spec.js';
import { FakeHost, mountInfoLine } from './testing/fake-host.js';
import type { OciSpec, SpecOptions } from './types.js';

const golden = JSON.parse(
  readFileSync(new URL('./testdata/golden-specs.json', import.meta.url), 'utf8'),
) as Record<string, OciSpec>;

const GOLDEN_CAPS = ['CAP_CHOWN', 'CAP_SYS_ADMIN', 'CAP_NET_ADMIN', 'CAP_KILL'];
const PASSWD = 'root:x:0:0::/root:/bin/sh\nweb:x:33:33::/srv:/bin/sh\n';
const GROUP = 'root:x:0:\nweb:x:33:\nwheel:x:10:root,web\n';
const SANDBOX_DIR = '/test/root/sandboxes/sb1';
const SHM = '/test/state/sandboxes/sb1/shm';

const options = (over: Partial<SpecOptions> = {}): SpecOptions => ({
  daemonCapabilities: GOLDEN_CAPS,
  cgroupV2: false,
  arch: 'x64',
  kernelVersion: { major: 6, minor: 1 },
  swapControllerAvailable: true,
  hugetlbAvailable: false,
  disableHugetlbController: false,
  ...over,
});

/** Go's encoding/json with omitempty: no empty strings, lists or maps. */
function normalize(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(normalize);
  if (v && typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) {
      const n = normalize(x);
      if (n === undefined || n === '') continue;
      if (Array.isArray(n) && n.length === 0) continue;
      if (n && typeof n === 'object' && !Array.isArray(n) && Object.keys(n).length === 0) continue;
      out[k] = n;
    }
    return out;
  }
  return v;
}

function same(actual: OciSpec, name: string): void {
  const want = golden[name];
  assert.ok(want, `no golden spec ${name}`);
  assert.deepEqual(normalize(JSON.parse(JSON.stringify(actual))), normalize(want));
}

const PAUSE = {
  User: '65535:65535',
  Entrypoint: ['/pause'],
  Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'],
};
const IMAGE = {
  Env: ['PATH=/usr/bin:/bin', 'IMG=1', 'SHARED=image'],
  Entrypoint: ['/entry'],
  Cmd: ['serve'],
  WorkingDir: '/srv',
};

function pod(linux: DeepPartial<LinuxPodSandboxConfig> = {}) {
  return PodSandboxConfig.fromPartial({
    metadata: { name: 'pod', uid: 'u1', namespace: 'ns' },
    hostname: 'podhost',
    logDirectory: '/var/log/pods/x',
    linux,
  });
}

function host() {
  const h = new FakeHost({
    [`${SANDBOX_DIR}/hostname`]: { kind: 'file' },
    [`${SANDBOX_DIR}/hosts`]: { kind: 'file' },
    [`${SANDBOX_DIR}/resolv.conf`]: { kind: 'file' },
    [SHM]: { kind: 'dir' },
    '/data/sub': { kind: 'dir' },
    '/data/hosts': { kind: 'file' },
    '/shared/vol': { kind: 'dir' },
    '/slave/vol': { kind: 'dir' },
    '/dev/null': { kind: 'chr', major: 1, minor: 3, perm: 0o666 },
  });
  h.mountInfoText = [
    mountInfoLine(1, '/'),
    mountInfoLine(2, '/shared', ['shared:5']),
    mountInfoLine(3, '/slave', ['master:7']),
  ].join('\n');
  return h;
}

const readRootfsFile = async (p: string) =>
  p === '/etc/passwd' ? Buffer.from(PASSWD) : p === '/etc/group' ? Buffer.from(GROUP) : undefined;

describe('golden: the same specs as containerd 1.6.20', () => {
  test('sandbox-plain', async () => {
    const spec = await buildSandboxSpec({
      id: 'sb1',
      config: pod({
        cgroupParent: '/kubepods/pod1',
        sysctls: { 'net.ipv4.ip_forward': '0' },
        resources: {
          cpuPeriod: 100000n,
          cpuQuota: 20000n,
          cpuShares: 1024n,
          memoryLimitInBytes: 1n << 30n,
        },
      }),
      image: PAUSE,
      netnsPath: '/run/netns/cni-1',
      dir: SANDBOX_DIR,
      shmPath: SHM,
      options: options(),
      host: host(),
    });
    same(spec, 'sandbox-plain');
  });

  test('sandbox-host', async () => {
    const spec = await buildSandboxSpec({
      id: 'sb1',
      config: pod({
        securityContext: {
          namespaceOptions: {
            network: NamespaceMode.NODE,
            pid: NamespaceMode.NODE,
            ipc: NamespaceMode.NODE,
          },
          runAsUser: { value: 1000n },
          runAsGroup: { value: 2000n },
          supplementalGroups: [3000n],
          seccomp: { profileType: SecurityProfile_ProfileType.RuntimeDefault },
        },
      }),
      image: PAUSE,
      dir: SANDBOX_DIR,
      shmPath: SHM,
      options: options(),
      host: host(),
    });
    same(spec, 'sandbox-host');
  });

  test('sandbox-privileged', async () => {
    const spec = await buildSandboxSpec({
      id: 'sb1',
      config: pod({
        securityContext: {
          privileged: true,
          runAsUser: { value: 0n },
          seccompProfilePath: 'runtime/default',
        },
      }),
      image: PAUSE,
      netnsPath: '/run/netns/cni-2',
      dir: SANDBOX_DIR,
      shmPath: SHM,
      options: options(),
      host: host(),
    });
    same(spec, 'sandbox-privileged');
  });

  const sandbox = (config: PodSandboxConfig) => ({
    id: 'sb1',
    pid: 4242,
    config,
    dir: SANDBOX_DIR,
    shmPath: SHM,
  });

  test('container-plain', async () => {
    const spec = await buildContainerSpec({
      id: 'c1',
      sandbox: sandbox(pod()),
      config: ContainerConfig.fromPartial({
        metadata: { name: 'app' },
        envs: [
          { key: 'SHARED', value: 'config' },
          { key: 'NEW', value: 'x' },
        ],
      }),
      image: IMAGE,
      imageName: 'docker.io/library/app:1',
      readRootfsFile,
      options: options(),
      host: host(),
    });
    same(spec, 'container-plain');
  });

  test('container-secure', async () => {
    const spec = await buildContainerSpec({
      id: 'c1',
      sandbox: sandbox(pod({ cgroupParent: '/kubepods/pod1' })),
      config: ContainerConfig.fromPartial({
        metadata: { name: 'app' },
        command: ['/bin/sh'],
        args: ['-c', 'true'],
        workingDir: '/w',
        tty: true,
        mounts: [
          { containerPath: '/a/b/c', hostPath: '/data/sub', readonly: true },
          { containerPath: '/a', hostPath: '/data' },
          {
            containerPath: '/v',
            hostPath: '/shared/vol',
            propagation: MountPropagation.PROPAGATION_BIDIRECTIONAL,
          },
          {
            containerPath: '/w2',
            hostPath: '/slave/vol',
            propagation: MountPropagation.PROPAGATION_HOST_TO_CONTAINER,
          },
          { containerPath: '/etc/hosts', hostPath: '/data/hosts', readonly: true },
        ],
        devices: [{ containerPath: '/dev/xnull', hostPath: '/dev/null', permissions: 'rw' }],
        linux: {
          resources: {
            cpuPeriod: 100000n,
            cpuQuota: 50000n,
            cpuShares: 512n,
            cpusetCpus: '0-1',
            cpusetMems: '0',
            memoryLimitInBytes: 256n << 20n,
            oomScoreAdj: 500n,
          },
          securityContext: {
            runAsUsername: 'web',
            supplementalGroups: [500n],
            capabilities: {
              addCapabilities: ['NET_ADMIN', 'SYS_ADMIN'],
              dropCapabilities: ['KILL'],
            },
            noNewPrivs: true,
            readonlyRootfs: true,
            maskedPaths: ['/proc/kcore'],
            readonlyPaths: ['/proc/sys'],
            seccompProfilePath: 'runtime/default',
            namespaceOptions: { pid: NamespaceMode.CONTAINER, ipc: NamespaceMode.NODE },
          },
        },
      }),
      image: IMAGE,
      imageName: 'docker.io/library/app:1',
      readRootfsFile,
      options: options(),
      host: host(),
    });
    same(spec, 'container-secure');
  });

  test('container-privileged', async () => {
    // privileged grants the daemon's own effective capabilities (cap.Current() where golden ran)
    const daemonCaps = golden['container-privileged']?.process.capabilities?.bounding ?? [];
    const spec = await buildContainerSpec({
      id: 'c1',
      sandbox: sandbox(pod({ securityContext: { privileged: true } })),
      config: ContainerConfig.fromPartial({
        metadata: { name: 'priv' },
        linux: {
          securityContext: {
            privileged: true,
            seccompProfilePath: 'runtime/default',
            runAsUser: { value: 33n },
            capabilities: { addCapabilities: ['ALL'], dropCapabilities: ['CHOWN'] },
          },
        },
      }),
      image: IMAGE,
      imageName: 'docker.io/library/app:1',
      readRootfsFile,
      options: options({ daemonCapabilities: daemonCaps, privilegedWithoutHostDevices: true }),
      host: host(),
    });
    same(spec, 'container-privileged');
  });

  test('container-image-user', async () => {
    const spec = await buildContainerSpec({
      id: 'c1',
      sandbox: sandbox(pod()),
      config: ContainerConfig.fromPartial({
        metadata: { name: 'user' },
        linux: {
          securityContext: {
            supplementalGroups: [7n],
            capabilities: { addCapabilities: ['NET_RAW'], dropCapabilities: ['ALL'] },
            seccompProfilePath: 'docker/default',
            namespaceOptions: { pid: NamespaceMode.NODE },
          },
          resources: {
            memoryLimitInBytes: 1n << 20n,
            memorySwapLimitInBytes: 4n << 20n,
            unified: { 'memory.high': '1000' },
          },
        },
      }),
      image: { User: 'web', Cmd: ['/bin/sh'] },
      imageName: 'docker.io/library/app:1',
      readRootfsFile,
      options: options(),
      host: host(),
    });
    same(spec, 'container-image-user');
  });
});
