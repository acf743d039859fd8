/**
 * The specs built here, run by runc itself: a pause-like sandbox from
 * buildSandboxSpec (its own network namespace, no netns path), then
 * containers from buildContainerSpec joining its namespaces, in temporary
 * bundles over a busybox-static rootfs. Proves runc accepts what the
 * builders write (seccomp default profile, capabilities, users, mounts,
 * cgroups paths, oom_score_adj) and that the process sees it.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmdirSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { type TempDir, tempDir } from '../../../test/helpers/tmp.js';
import {
  ContainerConfig,
  type DeepPartial,
  MountPropagation,
  PodSandboxConfig,
} from '../../api/k8s/cri/runtime/v1/api.js';
import { buildContainerSpec } from './container-spec.js';
import { hostSpecFacts, realSpecHost } from './host.js';
import { buildSandboxSpec } from './sandbox-spec.js';
import type { OciSpec, SpecOptions } from './types.js';

const RUNC = '/usr/sbin/runc';
const BUSYBOX = '/bin/busybox';
const skip =
  process.getuid?.() !== 0
    ? 'needs root'
    : !existsSync(RUNC) || !existsSync(BUSYBOX)
      ? 'needs runc and busybox-static'
      : false;

describe('runc runs the built specs', { skip }, () => {
  let tmp: TempDir;
  let runcRoot: string;
  const cgroupParent = `/berth-cri-spec-test-${process.pid}`;
  const sandboxId = `cri-spec-sb-${process.pid}`;
  const started: string[] = [];
  let options: SpecOptions;
  let sandboxPid = 0;
  let sandboxConfig: PodSandboxConfig;
  let sandboxDir: string;
  let shmDir: string;

  const runc = (...args: string[]) =>
    spawnSync(RUNC, ['--root', runcRoot, ...args], { encoding: 'utf8', timeout: 30_000 });

  function bundle(name: string, spec: OciSpec): string {
    const dir = join(tmp.path, 'bundles', name);
    const rootfs = join(dir, 'rootfs');
    mkdirSync(join(rootfs, 'bin'), { recursive: true });
    mkdirSync(join(rootfs, 'etc'), { recursive: true });
    for (const d of ['proc', 'sys', 'dev', 'tmp']) mkdirSync(join(rootfs, d), { recursive: true });
    copyFileSync(BUSYBOX, join(rootfs, 'bin', 'busybox'));
    for (const app of ['sh', 'id', 'cat', 'grep', 'sleep', 'hostname', 'touch', 'ls', 'echo']) {
      symlinkSync('busybox', join(rootfs, 'bin', app));
    }
    writeFileSync(join(rootfs, 'etc', 'passwd'), PASSWD);
    writeFileSync(join(rootfs, 'etc', 'group'), GROUP);
    writeFileSync(join(dir, 'config.json'), JSON.stringify(spec, null, 2));
    return dir;
  }

  const PASSWD = 'root:x:0:0:root:/root:/bin/sh\nweb:x:33:33::/:/bin/sh\n';
  const GROUP = 'root:x:0:\nweb:x:33:\nextra:x:2000:web\n';
  const readRootfsFile = async (p: string) =>
    p === '/etc/passwd' ? Buffer.from(PASSWD) : p === '/etc/group' ? Buffer.from(GROUP) : undefined;

  before(async () => {
    tmp = tempDir('berth-cri-spec-');
    runcRoot = join(tmp.path, 'runc');
    sandboxDir = join(tmp.path, 'sandbox');
    shmDir = join(tmp.path, 'shm');
    mkdirSync(sandboxDir);
    mkdirSync(shmDir);
    writeFileSync(join(sandboxDir, 'hostname'), 'specpod\n');
    writeFileSync(join(sandboxDir, 'hosts'), '127.0.0.1 localhost\n');
    writeFileSync(join(sandboxDir, 'resolv.conf'), 'nameserver 127.0.0.1\n');
    const facts = hostSpecFacts();
    // this machine's root lacks CAP_SYS_RESOURCE: restrict as containerd is configured here
    options = { ...facts, restrictOomScoreAdj: true };

    sandboxConfig = PodSandboxConfig.fromPartial({
      metadata: { name: 'specpod', uid: 'u', namespace: 'default' },
      hostname: 'specpod',
      linux: {
        cgroupParent,
        securityContext: { seccompProfilePath: 'runtime/default' },
        sysctls: { 'net.ipv4.ping_group_range': '0 0' },
      },
    });
    const spec = await buildSandboxSpec({
      id: sandboxId,
      config: sandboxConfig,
      image: { Entrypoint: ['/bin/sleep'], Cmd: ['3600'], User: '65535:65535' },
      dir: sandboxDir,
      shmPath: shmDir,
      options,
      host: realSpecHost,
    });
    const dir = bundle(sandboxId, spec);
    const res = spawnSync(RUNC, ['--root', runcRoot, 'run', '-d', '--bundle', dir, sandboxId], {
      stdio: ['ignore', 'ignore', 'pipe'],
      encoding: 'utf8',
      timeout: 30_000,
    });
    assert.equal(res.status, 0, `runc run sandbox: ${res.stderr}`);
    started.push(sandboxId);
    const state = JSON.parse(runc('state', sandboxId).stdout) as { pid: number; status: string };
    assert.equal(state.status, 'running');
    sandboxPid = state.pid;
  });

  after(() => {
    for (const id of started.reverse()) runc('delete', '--force', id);
    for (const hierarchy of readdirSync('/sys/fs/cgroup')) {
      const dir = join('/sys/fs/cgroup', hierarchy, cgroupParent);
      if (existsSync(dir)) rmdirSync(dir);
    }
    tmp?.remove();
  });

  async function runContainer(
    name: string,
    config: DeepPartial<ContainerConfig>,
    image = { Entrypoint: ['/bin/sh', '-c'] as string[] },
    podConfig = sandboxConfig,
  ): Promise<{ status: number | null; stdout: string; stderr: string; spec: OciSpec }> {
    const id = `cri-spec-${name}-${process.pid}`;
    const spec = await buildContainerSpec({
      id,
      sandbox: {
        id: sandboxId,
        pid: sandboxPid,
        config: podConfig,
        dir: sandboxDir,
        shmPath: shmDir,
      },
      config: ContainerConfig.fromPartial({ metadata: { name }, ...config }),
      image,
      imageName: 'busybox',
      readRootfsFile,
      options,
      host: realSpecHost,
    });
    const dir = bundle(id, spec);
    started.push(id);
    const res = spawnSync(RUNC, ['--root', runcRoot, 'run', '--bundle', dir, id], {
      encoding: 'utf8',
      timeout: 30_000,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    return { status: res.status, stdout: res.stdout, stderr: res.stderr, spec };
  }

  test('the sandbox runs as the image user with the default seccomp profile', () => {
    const status = spawnSync('cat', [`/proc/${sandboxPid}/status`], { encoding: 'utf8' }).stdout;
    assert.match(status, /^Uid:\s+65535\s/m);
    assert.match(status, /^Gid:\s+65535\s/m);
    assert.match(status, /^Seccomp:\s+2$/m);
    assert.match(status, /^NoNewPrivs:\s+1$/m);
  });

  test('a container in the pod: user, groups, namespaces, seccomp, mounts', async () => {
    const data = join(tmp.path, 'data');
    mkdirSync(data, { mode: 0o777 });
    chmodSync(data, 0o777);
    writeFileSync(join(data, 'f'), 'hello');
    const r = await runContainer('app', {
      args: [
        'id; hostname; cat /data/f; echo; grep -E "^(Seccomp|NoNewPrivs|CapEff):" /proc/self/status; touch /data/g && echo rw-data; touch /etc/x 2>/dev/null || echo ro-root; cat /etc/resolv.conf',
      ],
      mounts: [
        {
          containerPath: '/data',
          hostPath: data,
          propagation: MountPropagation.PROPAGATION_PRIVATE,
        },
      ],
      linux: {
        securityContext: {
          runAsUsername: 'web',
          supplementalGroups: [3000n],
          readonlyRootfs: true,
          seccompProfilePath: 'runtime/default',
          capabilities: { dropCapabilities: ['ALL'], addCapabilities: ['NET_BIND_SERVICE'] },
        },
      },
    });
    assert.equal(r.status, 0, r.stderr);
    const lines = r.stdout.split('\n');
    assert.match(
      lines[0] ?? '',
      /^uid=33\(web\) gid=33\(web\) groups=33\(web\),2000\(extra\),3000$/,
    );
    assert.equal(lines[1], 'specpod');
    assert.equal(lines[2], 'hello');
    assert.match(r.stdout, /^Seccomp:\s+2$/m);
    assert.match(r.stdout, /^NoNewPrivs:\s+0$/m);
    // non-root: no effective capabilities, whatever the bounding set holds
    assert.match(r.stdout, /^CapEff:\s+0+$/m);
    assert.match(r.stdout, /^rw-data$/m);
    assert.match(r.stdout, /^ro-root$/m);
    assert.match(r.stdout, /^nameserver 127\.0\.0\.1$/m);
    assert.ok(existsSync(join(data, 'g')));
  });

  test('the same pid namespace as the sandbox (POD) and its sysctls', async () => {
    const r = await runContainer('pidns', {
      args: ['cat /proc/1/comm; cat /proc/sys/net/ipv4/ping_group_range'],
    });
    assert.equal(r.status, 0, r.stderr);
    // pid 1 is the sandbox's sleep; the pod's sysctl is seen through the shared network namespace
    assert.match(r.stdout, /^sleep$/m);
    assert.match(r.stdout, /^0\s+0$/m);
    assert.ok(
      r.spec.linux.namespaces?.some(
        (n) => n.type === 'pid' && n.path === `/proc/${sandboxPid}/ns/pid`,
      ),
    );
  });

  test('root with default caps, oom_score_adj and cgroup path', async () => {
    const r = await runContainer('root', {
      args: [
        'id; grep CapEff /proc/self/status; cat /proc/self/oom_score_adj; cat /proc/self/cgroup | grep memory',
      ],
      linux: { resources: { oomScoreAdj: 500n, memoryLimitInBytes: 64n << 20n } },
    });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^uid=0\(root\) gid=0\(root\)/m);
    // containerd's 14 default capabilities
    assert.match(r.stdout, /^CapEff:\s+00000000a80425fb$/m);
    assert.match(r.stdout, /^500$/m);
    assert.ok(r.stdout.includes(`${cgroupParent}/cri-spec-root-${process.pid}`), r.stdout);
  });

  test('a localhost seccomp profile that denies mkdir', async () => {
    const profile = join(tmp.path, 'deny-mkdir.json');
    writeFileSync(
      profile,
      JSON.stringify({
        defaultAction: 'SCMP_ACT_ALLOW',
        syscalls: [{ names: ['mkdir', 'mkdirat'], action: 'SCMP_ACT_ERRNO' }],
      }),
    );
    const r = await runContainer('localhost', {
      args: ['mkdir /tmp/x && echo made || echo denied'],
      linux: { securityContext: { seccompProfilePath: `localhost/${profile}` } },
    });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.trim(), 'denied');
  });

  test('privileged: the daemon capabilities, host devices, writable sysfs', async () => {
    const privilegedPod = PodSandboxConfig.fromPartial({
      ...sandboxConfig,
      linux: { ...sandboxConfig.linux, securityContext: { privileged: true } },
    });
    const r = await runContainer(
      'priv',
      {
        args: [
          'grep CapEff /proc/self/status; ls /dev/null /dev/zero /dev/full; grep " /sys " /proc/self/mounts',
        ],
        linux: { securityContext: { privileged: true } },
      },
      undefined,
      privilegedPod,
    );
    assert.equal(r.status, 0, r.stderr);
    const eff = BigInt(`0x${/^CapEff:\s+([0-9a-f]+)$/m.exec(r.stdout)?.[1]}`);
    const own = BigInt(
      `0x${/^CapEff:\s+([0-9a-f]+)$/m.exec(readFileSync('/proc/self/status', 'utf8'))?.[1]}`,
    );
    assert.equal(eff, own);
    assert.match(r.stdout, /^\/dev\/full$/m);
    // the spec asks for a writable sysfs; runc still mounts it read-only in a joined network namespace
    assert.deepEqual(r.spec.mounts.find((m) => m.type === 'sysfs')?.options, [
      'nosuid',
      'noexec',
      'nodev',
      'rw',
    ]);
  });
});
