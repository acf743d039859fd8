import assert from 'node:assert/strict';
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, afterEach, before, describe, it } from 'node:test';
import { defaultFifoDir } from '../../src/client/cio/index.js';
import { BERTH, BerthCli } from '../helpers/berth-cli.js';
import { CliEnv, until } from '../helpers/cli-env.js';
import { PodNetwork } from '../helpers/cri-net.js';
import { ctrOkAsync, table } from '../helpers/ctr.js';
import { alive, bundles, cmdline, mountsUnder, shimPids } from '../helpers/daemon.js';
import { busyboxImage, httpdImage } from '../helpers/images.js';
import { freePort } from '../helpers/registry.js';

const root = process.getuid?.() === 0;

const PAGE = '<h1>berth survives</h1>\n';

interface Info {
  Id: string;
  State: { Status: string; Running: boolean; Pid: number };
}

/** A `berth` process of the test's own, for killing by pid; its output collected. */
class Spawned {
  readonly p: ChildProcess;
  stdout = '';
  stderr = '';
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  constructor(cli: BerthCli, args: string[]) {
    const env: NodeJS.ProcessEnv = { ...process.env, ...cli.opts.env };
    delete env.CONTAINERD_ADDRESS;
    delete env.CONTAINERD_NAMESPACE;
    // bin/berth execs node: this pid is berth's own.
    this.p = spawn(BERTH, [...cli.globalArgs(), ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env,
    });
    this.p.stdout?.on('data', (b: Buffer) => (this.stdout += b.toString()));
    this.p.stderr?.on('data', (b: Buffer) => (this.stderr += b.toString()));
    this.exited = new Promise((resolve, reject) => {
      this.p.on('error', reject);
      this.p.on('close', (code, signal) => resolve({ code, signal }));
    });
  }

  get pid(): number {
    return this.p.pid as number;
  }

  /** kill -9, by pid; resolves once it has exited. */
  async kill9(): Promise<void> {
    if (this.p.exitCode === null && this.p.signalCode === null) this.p.kill('SIGKILL');
    await this.exited;
  }
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * Issue 13: "Network state is released when the container goes away, also
 * after a crash of the CLI or the daemon"; the guide: a kill -9 at any
 * point loses nothing committed, and bad input leaves nothing behind. Each
 * case ends with no container of the test left, and then nothing of them
 * may be: no record, task, shim, task bundle, active snapshot, netns pin,
 * IP allocation, iptables rule naming a container or its address, CNI
 * cache entry, state dir or FIFO dir. A berth killed while berthd creates
 * its task hits a berthd bug (PENDING_CREATE): those cases are todo.
 */
describe('berth after a kill -9', { skip: !root && 'needs root' }, () => {
  let env: CliEnv;
  let web: string;
  let busybox: string;

  /** IDs and IPs of every container the test made: no iptables rule may name one afterwards. */
  const seenIds = new Set<string>();
  const seenIps = new Set<string>();

  const inspect = async (name: string): Promise<Info> => {
    const [info] = JSON.parse(await env.cli.ok(['inspect', name])) as Info[];
    assert.ok(info, `inspect ${name}`);
    return info;
  };

  /** The ID of the container named `name`, or undefined when there is none. */
  const idOf = async (name: string): Promise<string | undefined> => {
    const r = await env.cli.run(['inspect', '--format', '{{.Id}}', name]);
    if (r.code !== 0) {
      assert.match(r.stderr, /No such (container|object)/, r.stderr);
      return undefined;
    }
    return r.stdout.trim();
  };

  const fetchPage = (port: number) =>
    until(
      `the page on 127.0.0.1:${port}`,
      async () => {
        const res = await fetch(`http://127.0.0.1:${port}/index.html`, {
          signal: AbortSignal.timeout(2000),
        });
        return `${res.status} ${await res.text()}`;
      },
      (b) => b.startsWith('200 '),
      15_000,
    );

  /** FIFO dirs an earlier case left (and failed on): not counted again. */
  const fifosReported = new Set<string>();

  /** What is left of containers that no longer exist, none being expected to. */
  const leftovers = async (): Promise<string[]> => {
    const left: string[] = [];
    const sock = env.d.socket;
    const records = (await ctrOkAsync(sock, ['containers', 'ls', '-q'])).trim();
    if (records !== '') left.push(`container records: ${records.split('\n').join(' ')}`);
    const tasks = (await ctrOkAsync(sock, ['tasks', 'ls', '-q'])).trim();
    if (tasks !== '') left.push(`tasks: ${tasks.split('\n').join(' ')}`);
    const active = table(await ctrOkAsync(sock, ['snapshots', 'ls']))
      .slice(1)
      .filter((row) => row.at(-1) !== 'Committed');
    for (const row of active) left.push(`active snapshot ${row[0]}`);
    for (const m of mountsUnder(env.dataRoot)) left.push(`mount ${m}`);
    const netns = join(env.dataRoot, 'netns');
    if (existsSync(netns)) for (const f of readdirSync(netns)) left.push(`netns pin ${f}`);
    for (const ip of env.net.allocatedIps()) left.push(`IP allocation ${ip}`);
    for (const c of env.net.podChains()) left.push(`iptables chain ${c}`);
    const rules = execFileSync('iptables-save', { encoding: 'utf8' }).split('\n');
    const net = new RegExp(`\\b${env.net.net24.replaceAll('.', '\\.')}\\.\\d+\\b`);
    for (const l of rules) {
      if (
        net.test(l) ||
        [...seenIds].some((id) => l.includes(id)) ||
        [...seenIps].some((ip) => new RegExp(`\\b${ip.replaceAll('.', '\\.')}\\b`).test(l))
      ) {
        left.push(`iptables rule ${l}`);
      }
    }
    const cache = join(env.dataRoot, 'cni', 'results');
    if (existsSync(cache)) for (const f of readdirSync(cache)) left.push(`CNI cache entry ${f}`);
    const states = join(env.dataRoot, 'containers', 'default');
    if (existsSync(states)) for (const f of readdirSync(states)) left.push(`state dir ${f}`);
    // The client's default FIFO dir, shared with everyone: only the test's containers' entries.
    const fifos = defaultFifoDir();
    if (existsSync(fifos)) {
      for (const f of readdirSync(fifos)) {
        if (fifosReported.has(f)) continue;
        if ([...seenIds].some((id) => f.startsWith(id))) left.push(`FIFO dir ${join(fifos, f)}`);
      }
    }
    return left;
  };

  /** berthd's shims and task bundles of no container (every container of the test being gone). */
  const allTaskLeftovers = (): string[] => [
    ...shimPids(env.d.socket).map((pid) => `shim pid ${pid}: ${cmdline(pid)?.join(' ')}`),
    ...bundles(env.d.state).map((b) => `task bundle ${b.namespace}/${b.id}`),
  ];
  /** Those of an earlier case (PENDING_CREATE) are not counted again. */
  const stuckAlready = new Set<string>();
  /**
   * A removed task's shim exits on its own shortly after: what is still
   * there after 10 s (or at once when `wait` is false).
   */
  const taskLeftovers = async (wait = true): Promise<string[]> => {
    const now = () => allTaskLeftovers().filter((l) => !stuckAlready.has(l));
    if (!wait) return now();
    return until(
      'shims and bundles to go',
      async () => now(),
      (l) => l.length === 0,
      10_000,
    ).catch(() => now());
  };

  /**
   * berthd's bug this test found (not berth's, see the report): a foreground
   * `berth run` killed while berthd's Tasks.Create runs leaves that create
   * pending for good: the stock shim has made the container (runc create,
   * createRuntime hook) and then waits to open the stdout FIFO for writing,
   * whose only reader was the killed berth; berthd passes no cancellation to
   * the shim's Create (no ctx.signal in ShimClient.create) and registers the
   * task only once Create answers. So `ctr tasks ls` shows no task, `berth
   * start` fails "task …: already exists" (the bundle), and `rm -f` cannot
   * remove the shim and the created container process.
   */
  const PENDING_CREATE =
    "berthd: a Tasks.Create whose client died waiting on the client's FIFOs stays pending (shim and bundle outlive rm -f)";

  const assertNothingLeft = async (what: string) => {
    assert.deepEqual(await taskLeftovers(), [], `${what}: no shim or task bundle left`);
    assert.deepEqual(await leftovers(), [], `${what} left nothing behind`);
  };

  /**
   * A berth killed between preparing a container's snapshot and making its
   * record leaves the snapshot held by the client's temporary lease, as
   * containerd's client does: it expires after 24 h (`containerd.io/gc.expire`)
   * and berthd's GC then collects the snapshot. Checked here, then the lease
   * is ended at once (with a synchronous GC) so that what follows sees
   * whether anything else holds the snapshot.
   */
  const releaseClientLeases = async () => {
    const sock = env.d.socket;
    for (const row of table(await ctrOkAsync(sock, ['leases', 'ls'])).slice(1)) {
      const [id = '', , labels = ''] = row;
      assert.match(id, /^berth-client-/, `a lease of berth's client: ${row.join(' ')}`);
      assert.match(labels, /containerd\.io\/gc\.expire=/, `the lease ${id} expires`);
      await ctrOkAsync(sock, ['leases', 'rm', '--sync', id]);
    }
  };

  /** After a failed case: what it left, removed, so that the next case is judged on its own. */
  afterEach(async () => {
    for (const { id } of await env.containers()) {
      await env.cli.run(['rm', '-f', id]).catch(() => undefined);
    }
    const sock = env.d.socket;
    for (const row of table(await ctrOkAsync(sock, ['leases', 'ls'])).slice(1)) {
      await ctrOkAsync(sock, ['leases', 'rm', '--sync', row[0] ?? '']).catch(() => undefined);
    }
    const states = join(env.dataRoot, 'containers', 'default');
    if (existsSync(states)) rmSync(states, { recursive: true, force: true });
    // A shim stuck in a create (PENDING_CREATE) and its container's process stay
    // until CliEnv's cleanup, which kills them by pid; later cases must not count them.
    for (const l of allTaskLeftovers()) stuckAlready.add(l);
    if (existsSync(defaultFifoDir()))
      for (const f of readdirSync(defaultFifoDir())) fifosReported.add(f);
  });

  before(async () => {
    env = await CliEnv.start();
    web = await env.image(httpdImage(PAGE), 'library/web:crash');
    busybox = await env.image(busyboxImage(), 'library/busybox:crash');
  });
  after(async () => {
    try {
      await env?.cleanup();
    } finally {
      // A container process a stuck create (PENDING_CREATE) made, `runc init`
      // waiting to be started, can outlive its killed shim: found by its
      // cgroup (named after the container), killed by pid.
      for (const pid of containerPids()) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // gone meanwhile
        }
      }
    }
  });
  /** Processes in a cgroup named after one of the test's containers. */
  const containerPids = (): number[] =>
    readdirSync('/proc')
      .filter((n) => /^\d+$/.test(n))
      .map(Number)
      .filter((pid) => {
        try {
          const cg = readFileSync(`/proc/${pid}/cgroup`, 'utf8');
          return [...seenIds].some((id) => cg.includes(id));
        } catch {
          return false;
        }
      });

  it('berthd killed -9: the container keeps serving, is running after the restart, rm -f leaves nothing', async () => {
    const port = await freePort();
    const r = await env.cli.run(['run', '-d', '-p', `127.0.0.1:${port}:80`, '--name', 'web', web]);
    assert.equal(r.code, 0, r.stderr);
    const id = r.stdout.trim();
    seenIds.add(id);
    assert.equal(await fetchPage(port), `200 ${PAGE}`);
    const ips = env.net.allocatedIps();
    assert.equal(ips.length, 1, `one IP: ${ips}`);
    seenIps.add(ips[0] as string);
    const before = await inspect('web');

    await env.d.kill9();
    assert.equal(await fetchPage(port), `200 ${PAGE}`, 'served while berthd is down');
    assert.ok(alive(before.State.Pid), 'the server process lives on');

    await env.d.restart();
    const ps = await until(
      'berth ps to answer',
      () => env.cli.ok(['ps']),
      () => true,
    );
    const rows = ps.trimEnd().split('\n').slice(1);
    assert.equal(rows.length, 1, ps);
    assert.match(rows[0] as string, new RegExp(`^${id.slice(0, 12)}\\s.*\\sUp .*\\sweb$`), ps);
    const after = await inspect('web');
    assert.equal(after.State.Running, true);
    assert.equal(after.State.Pid, before.State.Pid, 'the same process');
    assert.equal(await fetchPage(port), `200 ${PAGE}`);

    assert.equal(await env.cli.ok(['rm', '-f', 'web']), 'web\n');
    assert.ok(!alive(before.State.Pid), 'the server process is gone');
    await assertNothingLeft('rm -f after berthd restarted');
  });

  it('berth killed -9 during a foreground run: the container runs on, logs has its output, rm -f leaves nothing', async () => {
    const fg = new Spawned(env.cli, [
      'run',
      '--name',
      'fg',
      busybox,
      'sh',
      '-c',
      'echo before the kill; echo on stderr >&2; exec sleep 1000',
    ]);
    try {
      await until(
        'fg to run and print',
        async () =>
          (await env.cli.run(['ps', '--filter', 'name=fg', '--format', '{{.Status}}'])).stdout,
        (s) => s.startsWith('Up ') && fg.stdout.includes('before the kill'),
        30_000,
      );
    } finally {
      await fg.kill9();
    }
    assert.equal(fg.stdout, 'before the kill\n');
    const info = await inspect('fg');
    seenIds.add(info.Id);
    for (const ip of env.net.allocatedIps()) seenIps.add(ip);
    assert.equal(info.State.Running, true, 'fg still runs');

    // The container still answers after berth's end, and its process is the same.
    assert.equal(await env.cli.ok(['exec', 'fg', 'echo', 'still here']), 'still here\n');
    const again = await inspect('fg');
    assert.equal(again.State.Running, true);
    assert.equal(again.State.Pid, info.State.Pid);
    assert.ok(alive(info.State.Pid));

    const logs = await env.cli.run(['logs', 'fg']);
    assert.equal(logs.code, 0, logs.stderr);
    assert.equal(logs.stdout, 'before the kill\n');
    assert.equal(logs.stderr, 'on stderr\n');

    assert.equal(await env.cli.ok(['rm', '-f', 'fg']), 'fg\n');
    assert.ok(!alive(info.State.Pid), 'its process is gone');
    await assertNothingLeft('rm -f after berth was killed');
  });

  /**
   * When berth is killed: a time after its start, or as soon as something
   * of the run shows on the host (a state dir, an IP allocation).
   */
  const killPoints: { label: string; when: () => Promise<void> }[] = [
    ...[20, 60, 120, 250, 500, 1000].map((ms) => ({
      label: `${ms} ms after spawn`,
      when: () => sleep(ms),
    })),
    {
      label: 'as soon as its state dir exists',
      when: () => firstSeen(() => stateDirs().length > 0),
    },
    {
      label: 'as soon as its snapshot is prepared',
      when: () => firstSeen(() => snapshotDirs() > 0),
    },
    {
      label: 'as soon as an IP is allocated (createRuntime hook)',
      when: () => firstSeen(() => env.net.allocatedIps().length > 0),
    },
  ];
  const stateDirs = () => {
    const d = join(env.dataRoot, 'containers', 'default');
    return existsSync(d) ? readdirSync(d) : [];
  };
  /** berthd's overlayfs snapshots made (one per prepared container snapshot). */
  const snapshotDirs = () => {
    const d = join(env.d.root, 'io.containerd.snapshotter.v1.overlayfs', 'snapshots');
    return existsSync(d) ? readdirSync(d).length - baseSnapshots : 0;
  };
  let baseSnapshots = 0;
  /** Polls `cond` every few ms; resolves when it holds (or after 20 s). */
  const firstSeen = async (cond: () => boolean) => {
    const deadline = Date.now() + 20_000;
    while (!cond() && Date.now() < deadline) await sleep(2);
  };

  for (const [i, point] of killPoints.entries()) {
    it(`berth run killed -9 ${point.label}: nothing is left once it is removed`, async (t) => {
      const d = join(env.d.root, 'io.containerd.snapshotter.v1.overlayfs', 'snapshots');
      baseSnapshots = existsSync(d) ? readdirSync(d).length : 0;
      const name = `early${i}`;
      const port = await freePort();
      const run = new Spawned(env.cli, ['run', '--name', name, '-p', `127.0.0.1:${port}:80`, web]);
      try {
        await point.when();
      } finally {
        await run.kill9();
      }
      for (const dir of stateDirs()) seenIds.add(dir);
      for (const ip of env.net.allocatedIps()) seenIps.add(ip);
      const id = await idOf(name);
      const task = (await ctrOkAsync(env.d.socket, ['tasks', 'ls'])).trim().split('\n').slice(1);
      const leases = table(await ctrOkAsync(env.d.socket, ['leases', 'ls'])).length - 1;
      t.diagnostic(
        `killed with: container ${id ?? 'none'}, task ${task.join(' ') || 'none'}, ` +
          `IPs ${env.net.allocatedIps().join(' ') || 'none'}, leases ${leases}, stderr ${JSON.stringify(run.stderr)}`,
      );
      if (id !== undefined) {
        seenIds.add(id);
        const rm = await env.cli.run(['rm', '-f', name]);
        assert.equal(rm.code, 0, rm.stderr);
        assert.equal(rm.stdout, `${name}\n`);
      }
      await releaseClientLeases();
      const stuck = await taskLeftovers();
      if (stuck.length > 0) t.todo(PENDING_CREATE);
      assert.deepEqual(await leftovers(), [], `run killed ${point.label} left nothing behind`);
      assert.deepEqual(stuck, [], `run killed ${point.label}: no shim or task bundle left`);
    });
  }

  it('berth run killed -9 in its createRuntime hook: berth start runs the container, on a network of its own again', {
    todo: PENDING_CREATE,
  }, async () => {
    const port = await freePort();
    const run = new Spawned(env.cli, ['run', '--name', 'again', '-p', `127.0.0.1:${port}:80`, web]);
    try {
      await firstSeen(() => env.net.allocatedIps().length > 0);
    } finally {
      await run.kill9();
    }
    const id = await idOf('again');
    assert.ok(id !== undefined, 'the record was made before the hook ran');
    // Whatever the killed run left of the network (a task whose create was
    // cancelled does not run its postStop hook) is released by the next ADD.
    assert.equal(await env.cli.ok(['start', 'again']), 'again\n');
    assert.equal(await fetchPage(port), `200 ${PAGE}`);
    const ips = env.net.allocatedIps();
    assert.equal(ips.length, 1, `one IP: ${ips}`);
    seenIps.add(ips[0] as string);
    assert.equal(await env.cli.ok(['rm', '-f', 'again']), 'again\n');
    await releaseClientLeases();
    await assertNothingLeft('rm -f after start of a run killed in its hook');
  });

  describe('a network whose plugin binary does not exist', () => {
    let broken: PodNetwork;
    let cli: BerthCli;
    before(() => {
      const confDir = join(env.work.path, 'broken.d');
      const ipamDir = join(env.work.path, 'ipam-broken');
      mkdirSync(confDir);
      mkdirSync(ipamDir);
      broken = PodNetwork.create({
        confDir,
        ipamDir,
        name: 'broken',
        extraPlugins: [{ type: 'berth-test-no-such-plugin' }],
      });
      cli = new BerthCli({ ...env.cli.opts, cniConfDir: confDir });
    });
    after(() => broken?.remove());

    /** berth's one line for a failed run on `broken`: exit 125, naming the missing plugin. */
    const failsNamingPlugin = (r: { code: number; stdout: string; stderr: string }) => {
      assert.equal(r.code, 125, r.stderr);
      assert.equal(r.stdout, '');
      const lines = r.stderr.trimEnd().split('\n');
      assert.equal(lines.length, 1, r.stderr);
      assert.match(lines[0] as string, /^berth: .*berth-test-no-such-plugin/);
    };
    const nothingOnBroken = () => {
      assert.deepEqual(broken.allocatedIps(), [], 'no IP allocation on the broken network');
      assert.deepEqual(broken.podChains(), [], 'no portmap chain on the broken network');
      const rules = execFileSync('iptables-save', { encoding: 'utf8' });
      const net = new RegExp(`\\b${broken.net24.replaceAll('.', '\\.')}\\.\\d+\\b`);
      assert.deepEqual(
        rules.split('\n').filter((l) => net.test(l)),
        [],
        'no iptables rule of the broken network',
      );
    };

    it('berth run --rm --network broken exits 125 naming the plugin and leaves nothing', async (t) => {
      const r = await cli.run([
        'run',
        '--rm',
        '--network',
        'broken',
        '--name',
        'nonet',
        busybox,
        'true',
      ]);
      failsNamingPlugin(r);
      t.diagnostic(r.stderr.trimEnd());
      assert.equal(await idOf('nonet'), undefined, 'no container');
      nothingOnBroken();
      await assertNothingLeft('run --rm on a broken network');
    });

    it('without --rm the container is left created, as docker leaves it, with no network; rm leaves nothing', async () => {
      const r = await cli.run(['run', '--network', 'broken', '--name', 'nonet', busybox, 'true']);
      failsNamingPlugin(r);
      const id = await idOf('nonet');
      assert.ok(id !== undefined, 'docker keeps a container whose start failed');
      seenIds.add(id);
      const tasks = (await ctrOkAsync(env.d.socket, ['tasks', 'ls', '-q'])).trim();
      assert.equal(tasks, '', 'no task');
      nothingOnBroken();
      assert.equal(await cli.ok(['rm', 'nonet']), 'nonet\n');
      nothingOnBroken();
      await assertNothingLeft('rm of a container whose network failed');
    });
  });
});
