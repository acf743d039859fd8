/**
 * `berth run`, `create`, `start`, `stop`, `restart`, `kill` and `rm` as a
 * user runs them: bin/berth against a berthd of the test's own, with a data
 * root and a CNI network (its own bridge and /24) of the test's own, on an
 * image built offline (busybox with httpd and a /www page).
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { createReadStream, existsSync, readdirSync, readFileSync, utimesSync } from 'node:fs';
import { get } from 'node:http';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { SWEEP_MIN_AGE_MS } from '../../src/cli/container/state-dir.js';
import { Client, Container } from '../../src/client/index.js';
import { BERTH, BerthCli, type BerthResult, cliNetwork } from '../helpers/berth-cli.js';
import { Berthd } from '../helpers/berthd.js';
import type { PodNetwork } from '../helpers/cri-net.js';
import {
  BUSYBOX_APPLETS,
  type BuiltImage,
  buildImage,
  busyboxImage,
  busyboxLayer,
  pushImage,
  skopeoCopy,
} from '../helpers/images.js';
import { Registry } from '../helpers/registry.js';
import { type TempDir, tempDir } from '../helpers/tmp.js';

const root = process.getuid?.() === 0;
const IMAGE = 'localhost/berth/run:v1';
const PAGE = 'hello from a berth container\n';

/** A port nothing listens on now. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const addr = s.address();
      s.close(() => resolve(typeof addr === 'object' && addr ? addr.port : 0));
    });
  });
}

function httpGet(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = get({ host: '127.0.0.1', port, path: '/', timeout: 2000 }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve(body));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}

/** The one line berth prints for a failure. */
function oneLine(r: BerthResult): string {
  const lines = r.stderr.split('\n').filter((l) => l !== '');
  assert.equal(lines.length, 1, `want one line on stderr, got: ${r.stderr}`);
  assert.match(lines[0] as string, /^berth: /);
  return lines[0] as string;
}

describe('berth run and the container lifecycle', { skip: !root && 'needs root' }, () => {
  let tmp: TempDir;
  let d: Berthd;
  let net: PodNetwork;
  let cli: BerthCli;
  let client: Client;
  let dataRoot: string;
  let built: BuiltImage;
  let registry: Registry | undefined;

  before(async () => {
    tmp = tempDir('berth-run-');
    d = await Berthd.start();
    net = cliNetwork(tmp.path);
    dataRoot = join(tmp.path, 'data');
    cli = new BerthCli({ socket: d.socket, dataRoot, cniConfDir: net.confDir });
    client = new Client(d.socket, { namespace: 'default' });
    built = await buildImage(
      tmp,
      busyboxImage({
        layers: [
          busyboxLayer([...BUSYBOX_APPLETS, 'httpd']),
          { entries: [{ type: 'file', path: 'www/index.html', content: PAGE }] },
        ],
      }),
    );
    const archive = join(tmp.path, 'image.tar');
    skopeoCopy(built, `oci-archive:${archive}:v1`);
    const [image] = await client.import(createReadStream(archive), {
      unpack: true,
      baseName: 'localhost/berth/run',
    });
    assert.equal(image?.name, IMAGE);
  });

  after(async () => {
    // Whatever a failed test left: removed through berth, by ID.
    for (const c of (await client?.containers().catch(() => [])) ?? []) {
      await cli.run(['rm', '-f', c.id]).catch(() => undefined);
    }
    client?.close();
    await registry?.stop();
    await d?.cleanup();
    try {
      net?.remove();
    } finally {
      tmp?.remove();
    }
  });

  /** The container records berthd has, by ID. */
  async function containerIds(): Promise<string[]> {
    return (await client.containers()).map((c) => c.id);
  }

  /** Snapshots that are not the image's layers (the image's are committed). */
  async function activeSnapshots(): Promise<string[]> {
    const all = await client.snapshotService('overlayfs').list(client.context());
    return all.filter((s) => s.kind !== 'committed').map((s) => s.name);
  }

  function stateDirs(): string[] {
    const dir = join(dataRoot, 'containers', 'default');
    return existsSync(dir) ? readdirSync(dir) : [];
  }

  function netnsFiles(): string[] {
    const dir = join(dataRoot, 'netns');
    return existsSync(dir) ? readdirSync(dir) : [];
  }

  /** Asserts berth left nothing of container `id` behind (or of any, without one). */
  async function nothingLeft(id?: string): Promise<void> {
    const ids = await containerIds();
    if (id === undefined) {
      assert.deepEqual(ids, []);
      assert.deepEqual(await activeSnapshots(), []);
      assert.deepEqual(stateDirs(), []);
    } else {
      assert.ok(!ids.includes(id), `container ${id} is still there`);
      assert.ok(!(await activeSnapshots()).includes(id), `snapshot ${id} is still there`);
      assert.ok(!stateDirs().includes(id), `state dir of ${id} is still there`);
      assert.ok(!netnsFiles().some((f) => f.includes(id)), `netns of ${id} is still pinned`);
      const rules = execFileSync('iptables-save', { encoding: 'utf8' });
      assert.ok(!rules.includes(id), `an iptables rule names ${id}`);
    }
    assert.deepEqual(net.allocatedIps(), []);
  }

  async function taskStatus(
    id: string,
  ): Promise<{ status: string; exitStatus: number } | undefined> {
    try {
      return await (await new Container(client, id).task()).status();
    } catch {
      return undefined;
    }
  }

  async function assertStopped(id: string, exitStatus: number): Promise<void> {
    const st = await taskStatus(id);
    assert.equal(st?.status, 'stopped');
    assert.equal(st?.exitStatus, exitStatus);
  }

  it('runs in the foreground: output on stdout and stderr, kept in its log, its exit code', async () => {
    const r = await cli.run([
      'run',
      '--name',
      'fg',
      IMAGE,
      'sh',
      '-c',
      'echo out; echo err >&2; exit 3',
    ]);
    assert.equal(r.code, 3, r.stderr);
    assert.equal(r.stdout, 'out\n');
    assert.equal(r.stderr, 'err\n');
    const [c] = await client.containers([`labels."berth/name"==fg`]);
    assert.ok(c, 'no container named fg');
    const log = readFileSync(
      join(dataRoot, 'containers', 'default', c.id, `${c.id}-json.log`),
      'utf8',
    );
    const entries = log
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { log: string; stream: string });
    assert.deepEqual(entries.map((e) => [e.stream, e.log]).sort(), [
      ['stderr', 'err\n'],
      ['stdout', 'out\n'],
    ]);
    // Stopped, not deleted: its exit code stays readable.
    await assertStopped(c.id, 3);
    assert.equal(await cli.ok(['rm', 'fg']), 'fg\n');
    await nothingLeft(c.id);
  });

  it('passes stdin with -i', async () => {
    const r = await cli.run(['run', '--rm', '-i', IMAGE, 'sh'], {
      input: 'echo from stdin; exit 5\n',
    });
    assert.equal(r.code, 5, r.stderr);
    assert.equal(r.stdout, 'from stdin\n');
  });

  it('leaves nothing behind with --rm: no record, snapshot, state dir, IP or netns', async () => {
    const r = await cli.run([
      'run',
      '--rm',
      IMAGE,
      'sh',
      '-c',
      'ip -4 addr show eth0 | grep -c inet',
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, '1\n');
    await nothingLeft();
    assert.deepEqual(netnsFiles(), []);
  });

  it('runs detached, then stop, start, restart, kill and rm', async () => {
    const r = await cli.run([
      'run',
      '-d',
      '--name',
      'life',
      IMAGE,
      'sh',
      '-c',
      'trap "exit 0" TERM; while true; do sleep 0.1; done',
    ]);
    assert.equal(r.code, 0, r.stderr);
    const id = r.stdout.trim();
    assert.match(id, /^[0-9a-f]{64}$/);
    assert.equal((await taskStatus(id))?.status, 'running');

    assert.equal(await cli.ok(['stop', 'life']), 'life\n');
    await assertStopped(id, 0);
    const labels = await new Container(client, id).labels();
    assert.equal(labels['containerd.io/restart.status'], 'stopped');
    assert.equal(labels['containerd.io/restart.explicitly-stopped'], 'true');

    assert.equal(await cli.ok(['start', 'life']), 'life\n');
    assert.equal((await taskStatus(id))?.status, 'running');
    const pid = (await new Container(client, id).task()).pid;

    assert.equal(await cli.ok(['restart', '-t', '5', id.slice(0, 12)]), `${id.slice(0, 12)}\n`);
    const task = await new Container(client, id).task();
    assert.equal((await task.status()).status, 'running');
    assert.notEqual(task.pid, pid);

    assert.equal(await cli.ok(['kill', 'life']), 'life\n');
    await task.wait();
    await assertStopped(id, 137);
    const again = await cli.run(['kill', 'life']);
    assert.equal(again.code, 125);
    assert.match(oneLine(again), /is not running/);

    assert.equal(await cli.ok(['container', 'rm', 'life']), 'life\n');
    await nothingLeft(id);
  });

  it('creates, then starts attached (-a) with the exit code, and refuses a name in use', async () => {
    const id = (
      await cli.ok(['create', '--name', 'made', IMAGE, 'sh', '-c', 'echo made; exit 4'])
    ).trim();
    assert.match(id, /^[0-9a-f]{64}$/);
    assert.equal(await taskStatus(id), undefined);
    const dup = await cli.run(['create', '--name', 'made', IMAGE, 'true']);
    assert.equal(dup.code, 125);
    assert.match(
      oneLine(dup),
      new RegExp(`Conflict\\. The container name "/made" is already in use by container "${id}"`),
    );
    const r = await cli.run(['start', '-a', 'made']);
    assert.equal(r.code, 4, r.stderr);
    assert.equal(r.stdout, 'made\n');
    assert.equal(await cli.ok(['rm', 'made']), 'made\n');
    assert.deepEqual(await containerIds(), []);
  });

  it('exits 127 when the command is not found, leaving nothing with --rm', async () => {
    const r = await cli.run(['run', '--rm', IMAGE, 'no-such-command']);
    assert.equal(r.code, 127);
    assert.match(oneLine(r), /no-such-command/);
    await nothingLeft();
    const plain = await cli.run(['run', '--name', 'nocmd', IMAGE, '/no/such/file']);
    assert.equal(plain.code, 127);
    oneLine(plain);
    await cli.ok(['rm', 'nocmd']);
  });

  it('exits 126 when the command cannot be invoked', async () => {
    const r = await cli.run(['run', '--rm', IMAGE, '/www/index.html']);
    assert.equal(r.code, 126);
    assert.match(oneLine(r), /permission denied/);
    await nothingLeft();
  });

  it('refuses bad flags with exit 125 and one line, making nothing', async () => {
    const bad = [
      ['run', '--no-such-flag', IMAGE],
      ['run', '--restart', 'sometimes', IMAGE],
      ['run', '--name', 'a b', IMAGE],
      ['run', '-v', 'named:/data', IMAGE],
      ['run', '-p', '99999:80', IMAGE],
      ['run', '--rm', '--restart', 'always', IMAGE],
      ['run', '--memory', 'lots', IMAGE],
      ['run', '--pull', 'never', 'localhost/berth/none:latest'],
      ['run', '--log-opt', 'max-size=x', IMAGE, 'true'],
      ['run'],
      // berth's stdin here is a pipe: -it is refused before anything is made.
      ['run', '-it', IMAGE, 'sh'],
      ['rm', 'no-such-container'],
      ['stop', 'no-such-container'],
    ];
    for (const args of bad) {
      const r = await cli.run(args);
      assert.equal(r.code, 125, `${args.join(' ')}: ${r.stderr}`);
      oneLine(r);
    }
    await nothingLeft();
  });

  it('refuses to remove a running container without -f', async () => {
    const id = (await cli.ok(['run', '-d', '--name', 'busy', IMAGE, 'sleep', '1000'])).trim();
    const r = await cli.run(['rm', 'busy']);
    assert.equal(r.code, 125);
    assert.match(oneLine(r), new RegExp(`You cannot remove a running container ${id}`));
    assert.equal(await cli.ok(['rm', '-f', 'busy']), 'busy\n');
    await nothingLeft(id);
  });

  it('publishes -p 127.0.0.1:PORT:80; rm leaves no netns, IP or iptables rule', async () => {
    const port = await freePort();
    const r = await cli.run([
      'run',
      '-d',
      '-p',
      `127.0.0.1:${port}:80`,
      '--name',
      'web',
      IMAGE,
      'httpd',
      '-f',
      '-p',
      '80',
      '-h',
      '/www',
    ]);
    assert.equal(r.code, 0, r.stderr);
    const id = r.stdout.trim();
    let body = '';
    let last: unknown;
    for (let i = 0; i < 100 && body === ''; i++) {
      try {
        body = await httpGet(port);
      } catch (err) {
        last = err;
        await new Promise((res) => setTimeout(res, 100));
      }
    }
    assert.equal(body, PAGE, `no page on 127.0.0.1:${port}: ${String(last)}`);
    assert.equal(net.allocatedIps().length, 1);
    assert.ok(netnsFiles().some((f) => f.includes(id)));
    assert.equal(await cli.ok(['stop', '-t', '1', 'web']), 'web\n');
    assert.equal(await cli.ok(['rm', 'web']), 'web\n');
    await nothingLeft(id);
  });

  it('pulls a missing image from its registry (--pull missing), never with --pull never', async () => {
    registry = await Registry.start(tmp);
    const pushed = await pushImage(registry, built.layout, built.tag, 'berth/pulled:v1');
    const ref = pushed.ref;
    const never = await cli.run(['run', '--rm', '--pull', 'never', ref, 'true']);
    assert.equal(never.code, 125);
    assert.match(oneLine(never), new RegExp(`No such image: ${ref.replaceAll('.', '\\.')}`));
    const r = await cli.run(['run', '--rm', '--network', 'none', ref, 'echo', 'pulled']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'pulled\n');
    assert.match(r.stderr, /Unable to find image '.*berth\/pulled:v1' locally/);
    assert.equal((await client.getImage(ref)).target.digest, pushed.digest);
    const again = await cli.run([
      'run',
      '--rm',
      '--network',
      'none',
      '--pull',
      'never',
      ref,
      'echo',
      'local',
    ]);
    assert.equal(again.code, 0, again.stderr);
    assert.equal(again.stdout, 'local\n');
    assert.doesNotMatch(again.stderr, /Unable to find image/);
    await nothingLeft();
  });

  /** Polls `check` until it holds, for at most `ms` (the daemon acts on its own time). */
  async function eventually(
    what: string,
    check: () => Promise<boolean>,
    ms = 20_000,
  ): Promise<void> {
    const deadline = Date.now() + ms;
    while (!(await check())) {
      if (Date.now() > deadline) assert.fail(`${what}: not within ${ms} ms`);
      await new Promise((res) => setTimeout(res, 100));
    }
  }

  it('-d --rm: berthd removes the container when it exits, its network released', async () => {
    const id = (await cli.ok(['run', '-d', '--rm', IMAGE, 'sh', '-c', 'sleep 0.5'])).trim();
    const labels = await new Container(client, id).labels();
    assert.equal(labels['berth/auto-remove'], 'true');
    await eventually('auto-remove', async () => !(await containerIds()).includes(id));
    assert.ok(!(await activeSnapshots()).includes(id));
    assert.deepEqual(net.allocatedIps(), []);
    assert.ok(!netnsFiles().some((f) => f.includes(id)));
    // berthd cannot remove berth's state dir: the next create sweeps it once it is old enough.
    const dir = join(dataRoot, 'containers', 'default', id);
    assert.ok(existsSync(dir));
    const old = (Date.now() - SWEEP_MIN_AGE_MS - 60_000) / 1000;
    utimesSync(dir, old, old);
    assert.equal((await cli.run(['run', '--rm', '--network', 'none', IMAGE, 'true'])).code, 0);
    assert.ok(!existsSync(dir), 'the state dir of an auto-removed container was not swept');
    await nothingLeft();
  });

  it('--restart always: berthd starts a killed container again; stop is honoured', async () => {
    const id = (
      await cli.ok(['run', '-d', '--restart', 'always', '--name', 'always', IMAGE, 'sleep', '1000'])
    ).trim();
    const labels = await new Container(client, id).labels();
    assert.equal(labels['containerd.io/restart.policy'], 'always');
    assert.equal(labels['containerd.io/restart.status'], 'running');
    assert.match(labels['containerd.io/restart.loguri'] ?? '', /^binary:\/\/.*berth-logger\?/);
    const first = (await new Container(client, id).task()).pid;
    process.kill(first, 'SIGKILL');
    await eventually('restart', async () => {
      const t = await new Container(client, id).task().catch(() => undefined);
      return t !== undefined && t.pid !== first && (await t.status()).status === 'running';
    });
    // kill, as docker's, marks it stopped by hand: the monitor leaves it; start clears that.
    assert.equal(await cli.ok(['kill', 'always']), 'always\n');
    let now = await new Container(client, id).labels();
    assert.equal(now['containerd.io/restart.status'], 'stopped');
    assert.equal(now['containerd.io/restart.explicitly-stopped'], 'true');
    await (await new Container(client, id).task()).wait();
    assert.equal(await cli.ok(['start', 'always']), 'always\n');
    now = await new Container(client, id).labels();
    assert.equal(now['containerd.io/restart.status'], 'running');
    assert.equal(now['containerd.io/restart.explicitly-stopped'], undefined);
    assert.equal((await taskStatus(id))?.status, 'running');
    assert.equal(await cli.ok(['stop', '-t', '1', 'always']), 'always\n');
    await assertStopped(id, 137);
    assert.equal(await cli.ok(['rm', 'always']), 'always\n');
    await nothingLeft(id);
  });

  it('applies the process flags: env, workdir, user, hostname, entrypoint', async () => {
    const script = 'echo "$GREETING $WHO"; pwd; id -u; id -g; hostname';
    const r = await cli.run(
      [
        'run',
        '--rm',
        '-e',
        'GREETING=hello',
        '-e',
        'WHO',
        '-w',
        '/tmp',
        '-u',
        '1234:5678',
        '--hostname',
        'box',
        '--entrypoint',
        'sh',
        IMAGE,
        '-c',
        script,
      ],
      { env: { WHO: 'world' } },
    );
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'hello world\n/tmp\n1234\n5678\nbox\n');
    await nothingLeft();
  });

  it('bind-mounts -v (read-write and :ro, a missing host dir made) on a --read-only root', async () => {
    const host = join(tmp.path, 'made-by-run', 'data');
    const script = [
      'echo written > /rw/f',
      'touch /ro/g 2>/dev/null && echo ro-writable || echo ro-refused',
      'touch /rootfs-file 2>/dev/null && echo root-writable || echo root-refused',
      'cat /ro/f',
    ].join('; ');
    const r = await cli.run([
      'run',
      '--rm',
      '-v',
      `${host}:/rw`,
      '-v',
      `${host}:/ro:ro`,
      '--read-only',
      IMAGE,
      'sh',
      '-c',
      script,
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'ro-refused\nroot-refused\nwritten\n');
    // docker makes a missing host directory of -v.
    assert.equal(readFileSync(join(host, 'f'), 'utf8'), 'written\n');
    await nothingLeft();
  });

  it('limits memory and CPU (--memory, --cpus) as the host sees the cgroup', async () => {
    const id = (
      await cli.ok(['run', '-d', '-m', '64m', '--cpus', '0.5', IMAGE, 'sleep', '1000'])
    ).trim();
    const pid = (await new Container(client, id).task()).pid;
    const cgroups = readFileSync(`/proc/${pid}/cgroup`, 'utf8').split('\n');
    const v1 = (ctrl: string) =>
      cgroups.find((l) => l.split(':')[1]?.split(',').includes(ctrl))?.split(':')[2];
    const memoryV1 = v1('memory');
    if (memoryV1 !== undefined) {
      const read = (ctrl: string, file: string) =>
        readFileSync(join('/sys/fs/cgroup', ctrl, v1(ctrl) as string, file), 'utf8').trim();
      assert.equal(read('memory', 'memory.limit_in_bytes'), String(64 * 1024 * 1024));
      assert.equal(read('cpu', 'cpu.cfs_quota_us'), '50000');
      assert.equal(read('cpu', 'cpu.cfs_period_us'), '100000');
    } else {
      const path = cgroups.find((l) => l.startsWith('0::'))?.slice(3) as string;
      const read = (file: string) =>
        readFileSync(join('/sys/fs/cgroup', path, file), 'utf8').trim();
      assert.equal(read('memory.max'), String(64 * 1024 * 1024));
      assert.equal(read('cpu.max'), '50000 100000');
    }
    await cli.ok(['rm', '-f', id]);
    await nothingLeft(id);
  });

  it('ends a container whose output nobody reads any more (berth run … | head -1)', async () => {
    const child = spawn(
      BERTH,
      [
        ...cli.globalArgs(),
        'run',
        '--rm',
        '--network',
        'none',
        IMAGE,
        'sh',
        '-c',
        'while true; do echo y; done',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stderr = '';
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    // What head does after its first line: close the pipe.
    child.stdout.once('data', () => child.stdout.destroy());
    const code = await new Promise<number | null>((resolve) =>
      child.on('close', (c) => resolve(c)),
    );
    assert.ok(code === 137 || code === 141, `exit ${code}: ${stderr}`);
    assert.equal(stderr, '');
    await nothingLeft();
  });
});
