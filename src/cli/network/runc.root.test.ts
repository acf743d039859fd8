import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { type TempDir, tempDir } from '../../../test/helpers/tmp.js';
import type { Spec } from '../../client/oci/types.js';
import { removeNetns } from '../../sys/netns.js';
import { pinnedNetnsPath, releaseNetwork } from './attach.js';
import { defaultNetworkConflist } from './conflist.js';
import { type HookFlags, hookArgs } from './flags.js';
import { networkSpec } from './spec.js';

const CNI_BIN = '/usr/lib/cni';
const RUNC = '/usr/sbin/runc';
const BUSYBOX = '/bin/busybox';
const skip =
  process.getuid?.() !== 0
    ? 'needs root'
    : ![...['bridge', 'host-local', 'loopback'].map((p) => join(CNI_BIN, p)), RUNC, BUSYBOX].every(
          existsSync,
        )
      ? `needs containernetworking-plugins in ${CNI_BIN}, runc and busybox`
      : false;

function run(cmd: string, args: string[]): string {
  return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}
function tryRun(cmd: string, args: string[]): string | undefined {
  try {
    return run(cmd, args);
  } catch {
    return undefined;
  }
}

function runcRun(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(RUNC, args, { encoding: 'utf8', timeout: 60_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

/** The whole path through runc: its hooks run berth's hook body (here through a small entry script). */
describe('berth network hooks run by runc', { skip }, () => {
  let tmp: TempDir;
  const tag = randomBytes(3).toString('hex');
  const bridge = `brt${tag}`;
  const netName = `berth-runc-test-${tag}`;
  let net = '';
  let flags: HookFlags;
  let rootfs: string;
  let entry: string;
  const ids: string[] = [];

  const allocations = () =>
    existsSync(join(tmp.path, 'ipam', netName))
      ? readdirSync(join(tmp.path, 'ipam', netName)).filter((f) => f.startsWith(net))
      : [];
  const cacheFiles = () => {
    const d = join(flags.dataRoot, 'cni', 'results');
    return existsSync(d) ? readdirSync(d) : [];
  };

  before(() => {
    tmp = tempDir();
    const routes = run('ip', ['-4', 'route', 'show', 'table', 'all']);
    do {
      net = `10.${200 + ((randomBytes(1)[0] as number) % 51)}.${randomBytes(1)[0]}.`;
    } while (routes.includes(net));
    flags = {
      dataRoot: join(tmp.path, 'data'),
      cniPath: CNI_BIN,
      cniConfDir: join(tmp.path, 'net.d'),
      namespace: `test-${tag}`,
    };
    mkdirSync(flags.cniConfDir);
    run('ip', ['link', 'add', bridge, 'type', 'bridge']);
    run('ip', ['addr', 'add', `${net}1/24`, 'dev', bridge]);
    run('ip', ['link', 'set', bridge, 'up']);
    const c = defaultNetworkConflist({
      name: netName,
      bridge,
      subnet: `${net}0/24`,
      ipMasq: false,
      ipamDataDir: join(tmp.path, 'ipam'),
    }) as { plugins: Record<string, unknown>[] };
    const br = c.plugins[0] as Record<string, unknown>;
    br.isGateway = false;
    (br.ipam as { ranges: unknown }).ranges = [[{ subnet: `${net}0/24`, gateway: `${net}1` }]];
    c.plugins = [br];
    writeFileSync(join(flags.cniConfDir, '10-test.conflist'), JSON.stringify(c));

    rootfs = join(tmp.path, 'rootfs');
    for (const d of ['bin', 'etc', 'proc', 'sys', 'dev', 'tmp'])
      mkdirSync(join(rootfs, d), { recursive: true });
    copyFileSync(BUSYBOX, join(rootfs, 'bin', 'busybox'));
    chmodSync(join(rootfs, 'bin', 'busybox'), 0o755);
    for (const a of ['sh', 'cat', 'ip', 'hostname']) symlinkSync('busybox', join(rootfs, 'bin', a));
    // What `berth internal oci-hook` will be: the hook body behind a command line.
    const hookTs = fileURLToPath(new URL('./hook.ts', import.meta.url));
    const main = join(tmp.path, 'hook-main.mjs');
    writeFileSync(
      main,
      `import { ociHookMain } from ${JSON.stringify(hookTs)};\n` +
        'const i = process.argv.indexOf("oci-hook");\n' +
        'process.exitCode = await ociHookMain(process.argv.slice(i + 1), process.stdin, process.stderr);\n',
    );
    entry = join(tmp.path, 'berth');
    const tsx = fileURLToPath(import.meta.resolve('tsx'));
    writeFileSync(entry, `#!/bin/sh\nexec ${process.execPath} --import ${tsx} ${main} "$@"\n`);
    chmodSync(entry, 0o755);
  });

  after(async () => {
    for (const id of ids) {
      tryRun(RUNC, ['--root', join(tmp.path, 'runc'), 'delete', '--force', id]);
      await releaseNetwork(flags, flags.namespace, id).catch((e) =>
        console.error(`# cleanup: ${e}`),
      );
      await removeNetns(
        pinnedNetnsPath(flags, flags.namespace, id),
        join(flags.dataRoot, 'netns'),
      ).catch(() => {});
    }
    if (bridge.startsWith('brt') && tryRun('ip', ['link', 'show', bridge]) !== undefined)
      run('ip', ['link', 'del', bridge]);
    tmp.remove();
  });

  async function bundle(id: string, network: string, script: string): Promise<string> {
    const dir = join(tmp.path, 'bundles', id);
    mkdirSync(dir, { recursive: true });
    run(RUNC, ['spec', '--bundle', dir]);
    const spec = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as Spec;
    spec.root = { path: rootfs, readonly: true };
    spec.process = {
      ...spec.process,
      terminal: false,
      args: ['/bin/sh', '-c', script],
      cwd: '/',
    } as Spec['process'];
    const ns = networkSpec({
      network,
      ports: [],
      hostname: 'ctr1',
      name: 'named',
      containerStateDir: join(tmp.path, 'state', id),
      namespace: flags.namespace,
      id,
      hook: { argv0: [entry], globalArgs: hookArgs(flags, flags.namespace) },
    });
    await ns.apply({ namespace: flags.namespace } as never, { id }, spec);
    ns.writeFiles();
    writeFileSync(join(dir, 'config.json'), JSON.stringify(spec));
    return dir;
  }

  it('createRuntime sets up eth0 and /etc/hosts before the process runs; postStop (runc delete) releases it', async () => {
    const id = `runc${tag}`;
    ids.push(id);
    const dir = await bundle(
      id,
      netName,
      'cat /etc/hosts; ip -4 -o addr show eth0; ip -o link show lo; hostname; cat /etc/hostname',
    );
    const r = await runcRun(['--root', join(tmp.path, 'runc'), 'run', '--bundle', dir, id]);
    assert.equal(r.code, 0, r.stderr);
    const ip = new RegExp(`inet (${net.replace(/\./g, '\\.')}\\d+)/24`).exec(r.stdout)?.[1];
    assert.ok(ip, `eth0 has an address: ${r.stdout}`);
    assert.match(r.stdout, new RegExp(`^${ip}\\tctr1 named$`, 'm'));
    assert.match(r.stdout, /^127\.0\.0\.1\tlocalhost$/m);
    assert.match(r.stdout, /lo: <[^>]*\bUP\b/);
    assert.match(r.stdout, /^ctr1\nctr1\n$/m);
    // runc run deleted the container on exit: the poststop hook released the network.
    assert.deepEqual(allocations(), []);
    assert.deepEqual(cacheFiles(), []);
    assert.equal(existsSync(pinnedNetnsPath(flags, flags.namespace, id)), false);
    assert.equal(run('ip', ['-o', 'link', 'show', 'master', bridge]).trim(), '');
  });

  it('a failing createRuntime fails the create with the hook message, and leaves nothing', async () => {
    const id = `rfail${tag}`;
    ids.push(id);
    const dir = await bundle(id, `no-such-net-${tag}`, 'true');
    const r = await runcRun(['--root', join(tmp.path, 'runc'), 'run', '--bundle', dir, id]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, new RegExp(`network \\\\?"no-such-net-${tag}\\\\?" not found`));
    assert.deepEqual(allocations(), []);
    assert.deepEqual(cacheFiles(), []);
    assert.equal(existsSync(pinnedNetnsPath(flags, flags.namespace, id)), false);
  });
});
