/**
 * berth's commands that look at and manage containers and the system, against
 * a real berthd: containers are made with `ctr run -d` and labelled
 * `berth/name=…` (what `berth run` does), so these tests need no berth run.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { loggerURI } from '../../src/cli/logs/log-config.js';
import { REPO } from '../helpers/berthd.js';
import { CtrProcess, ctrOkAsync } from '../helpers/ctr.js';
import { startDaemonWithImage, type TestDaemon, uniqueId, waitFor } from '../helpers/daemon.js';

const root = process.getuid?.() === 0;
/** The bundle `npm run build` makes (what bin/berth runs). */
const BERTH_JS = join(REPO, 'dist/berth/berth.js');

interface Result {
  code: number | null;
  out: string;
  err: string;
}

describe('berth: ps, exec, inspect, top, stats, events, namespaces, info, prune', {
  skip: !root && 'needs root (runc)',
}, () => {
  let d: TestDaemon;
  let image: string;
  let dataRoot: string;
  const web = uniqueId('obs-web');
  const done = uniqueId('obs-done');
  const fresh = uniqueId('obs-fresh');

  /** Runs berth against the test daemon (asynchronously: the daemon is in this process's tests' reach). */
  const berth = (args: string[], input?: string): Promise<Result> =>
    new Promise((resolve, reject) => {
      const p = spawn(
        process.execPath,
        [BERTH_JS, '-a', d.socket, '--data-root', dataRoot, ...args],
        {
          stdio: ['pipe', 'pipe', 'pipe'],
          env: { PATH: process.env.PATH ?? '/usr/bin:/bin' },
        },
      );
      let out = '';
      let err = '';
      p.stdout.on('data', (b: Buffer) => (out += b.toString()));
      p.stderr.on('data', (b: Buffer) => (err += b.toString()));
      p.on('error', reject);
      p.on('close', (code) => resolve({ code, out, err }));
      p.stdin.end(input ?? '');
    });
  const ok = async (args: string[]): Promise<string> => {
    const r = await berth(args);
    assert.equal(r.code, 0, `berth ${args.join(' ')}: ${r.err}`);
    return r.out;
  };
  /** A failure: the code, and exactly one line on stderr naming it. */
  const fails = async (args: string[], code: number, pattern: RegExp): Promise<void> => {
    const r = await berth(args);
    assert.equal(r.code, code, `berth ${args.join(' ')}: ${r.out}${r.err}`);
    assert.equal(r.err.split('\n').length, 2, `one line: ${JSON.stringify(r.err)}`);
    assert.match(r.err.trimEnd(), pattern);
  };
  const taskStatus = async (id: string) => {
    const out = await ctrOkAsync(d.socket, ['tasks', 'ls']);
    return out
      .split('\n')
      .find((l) => l.startsWith(`${id} `))
      ?.trim()
      .split(/\s+/)[2];
  };

  before(async () => {
    assert.ok(existsSync(BERTH_JS), `${BERTH_JS} is missing: run npm run build`);
    ({ d, image } = await startDaemonWithImage());
    dataRoot = join(d.dir.path, 'berth-cli');
    mkdirSync(dataRoot, { recursive: true });
    const run = (id: string, name: string, ...cmd: string[]) =>
      ctrOkAsync(d.socket, [
        'run',
        '-d',
        '--label',
        `berth/name=${name}`,
        '--label',
        'tier=front',
        image,
        id,
        ...cmd,
      ]);
    await run(web, 'web', 'sleep', '1000');
    await run(done, 'done', 'sh', '-c', 'exit 3');
    const ports = [
      { hostIP: '127.0.0.1', hostPort: 8080, containerPort: 80, protocol: 'tcp' },
      { hostIP: '', hostPort: 5353, containerPort: 53, protocol: 'udp' },
    ];
    await ctrOkAsync(d.socket, [
      'containers',
      'create',
      '--label',
      'berth/name=fresh',
      '--label',
      `berth/ports=${JSON.stringify(ports)}`,
      image,
      fresh,
      'true',
    ]);
    await waitFor('the done task to stop', async () => (await taskStatus(done)) === 'STOPPED');
  });

  after(async () => {
    await d?.cleanup();
  });

  it('ps lists running containers; -a all of them; -q ids only', async () => {
    const table = await ok(['ps']);
    const lines = table.trimEnd().split('\n');
    assert.match(lines[0] ?? '', /^CONTAINER ID +IMAGE +COMMAND +CREATED +STATUS +PORTS +NAMES$/);
    assert.equal(lines.length, 2, table);
    assert.match(lines[1] ?? '', new RegExp(`^${web.slice(0, 12)} .*"sleep 1000" .* Up .* web$`));
    const ids = (await ok(['ps', '-a', '-q'])).trim().split('\n').sort();
    assert.deepEqual(ids, [web, done, fresh].map((id) => id.slice(0, 12)).sort());
    assert.deepEqual((await ok(['container', 'ls', '-q', '--no-trunc'])).trim().split('\n'), [web]);
  });

  it('ps --format json gives one parsable object per container', async () => {
    const rows = (await ok(['ps', '-a', '--format', 'json']))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, string>);
    const byName = new Map(rows.map((r) => [r.Names, r]));
    assert.equal(byName.get('web')?.State, 'running');
    assert.match(byName.get('web')?.Status ?? '', /^Up/);
    assert.equal(byName.get('done')?.State, 'exited');
    assert.match(byName.get('done')?.Status ?? '', /^Exited \(3\) /);
    assert.equal(byName.get('fresh')?.Status, 'Created');
    assert.match(byName.get('web')?.Labels ?? '', /(^|,)tier=front(,|$)/);
    assert.equal(await ok(['ps', '--format', '{{.Names}}']), 'web\n');
  });

  it('ps --filter selects by status, name, exited and label', async () => {
    const names = async (...filters: string[]) =>
      (await ok(['ps', '-a', '--format', '{{.Names}}', ...filters.flatMap((f) => ['--filter', f])]))
        .trim()
        .split('\n')
        .filter((l) => l !== '')
        .sort();
    assert.deepEqual(await names('status=exited'), ['done']);
    assert.deepEqual(await names('status=created', 'status=running'), ['fresh', 'web']);
    assert.deepEqual(await names('name=do'), ['done']);
    assert.deepEqual(await names('exited=3'), ['done']);
    assert.deepEqual(await names('exited=0'), []);
    assert.deepEqual(await names('label=tier=front', 'status=running'), ['web']);
    await fails(['ps', '--filter', 'colour=red'], 125, /^berth: invalid filter 'colour'/);
  });

  it('exec runs in the container: output, exit code, -e, -w, and 127 for a missing command', async () => {
    assert.equal(await ok(['exec', 'web', 'echo', 'hello']), 'hello\n');
    const r = await berth(['exec', 'web', 'sh', '-c', 'echo out; echo err >&2; exit 7']);
    assert.equal(r.code, 7);
    assert.equal(r.out, 'out\n');
    assert.equal(r.err, 'err\n');
    assert.equal(
      await ok(['exec', '-e', 'GREETING=hi there', 'web', 'sh', '-c', 'echo "$GREETING"']),
      'hi there\n',
    );
    assert.equal(await ok(['exec', '-w', '/bin', 'web', 'sh', '-c', 'pwd']), '/bin\n');
    assert.equal(await ok(['exec', '-i', 'web', 'cat']), '');
    assert.equal(await ok(['exec', '-u', '1000:50', 'web', 'id']), 'uid=1000 gid=50 groups=50\n');
    const piped = await berth(['exec', '-i', 'web', 'cat'], 'from stdin\n');
    assert.equal(piped.out, 'from stdin\n');
    await fails(
      ['exec', 'web', 'no-such-command'],
      127,
      /^berth: exec "no-such-command": executable file not found/,
    );
    await fails(
      ['exec', '-w', '/nonexistent', 'web', 'true'],
      126,
      /^berth: exec "true": cannot invoke: .*chdir/,
    );
    await fails(['exec', 'done', 'true'], 125, /^berth: container done is not running$/);
    await fails(['exec', 'nosuch', 'true'], 125, /^berth: No such container: nosuch$/);
  });

  it('port lists the published ports, or the addresses of one', async () => {
    assert.equal(await ok(['port', 'fresh']), '53/udp -> 0.0.0.0:5353\n80/tcp -> 127.0.0.1:8080\n');
    assert.equal(await ok(['port', 'fresh', '80']), '127.0.0.1:8080\n');
    assert.equal(await ok(['port', 'fresh', '53/udp']), '0.0.0.0:5353\n');
    assert.equal(await ok(['port', 'web']), '');
    await fails(
      ['port', 'fresh', '81'],
      125,
      /^berth: No public port '81\/tcp' published for fresh$/,
    );
  });

  it('wait prints the exit code of a stopped container', async () => {
    assert.equal(await ok(['wait', 'done']), '3\n');
  });

  it('inspect gives docker-shaped JSON, for containers and through the top-level inspect', async () => {
    const [c] = JSON.parse(await ok(['container', 'inspect', 'web'])) as Record<string, any>[];
    assert.equal(c?.Id, web);
    assert.equal(c?.Name, '/web');
    assert.equal(c?.State.Status, 'running');
    assert.equal(c?.State.Running, true);
    assert.ok(c?.State.Pid > 0);
    assert.deepEqual(c?.Config.Cmd, ['sleep', '1000']);
    assert.equal(c?.Path, 'sleep');
    const both = JSON.parse(await ok(['inspect', 'done', image])) as Record<string, any>[];
    assert.equal(both.length, 2);
    assert.equal(both[0]?.State.ExitCode, 3);
    assert.match(both[1]?.Id, /^sha256:[0-9a-f]{64}$/);
    assert.deepEqual(both[1]?.RepoTags, [image]);
    assert.equal(await ok(['inspect', '--format', '{{.Name}}', 'web']), '/web\n');
    await fails(['inspect', 'nosuch'], 125, /^berth: No such object: nosuch$/);
  });

  it('top shows the processes of the task', async () => {
    const out = await ok(['top', 'web']);
    const lines = out.trimEnd().split('\n');
    assert.match(lines[0] ?? '', /\bPID\b/);
    assert.equal(lines.length, 2, out);
    assert.match(lines[1] ?? '', /sleep 1000/);
  });

  it('stats --no-stream shows a row per running container', async () => {
    const out = await ok(['stats', '--no-stream']);
    const lines = out.trimEnd().split('\n');
    assert.match(
      lines[0] ?? '',
      /^CONTAINER ID +NAME +CPU % +MEM USAGE \/ LIMIT +MEM % +NET I\/O +BLOCK I\/O +PIDS$/,
    );
    assert.equal(lines.length, 2, out);
    assert.match(lines[1] ?? '', / web +\d+\.\d\d% +\S+ \/ \S+ +\d+\.\d\d% .* 1$/);
    const [j] = (await ok(['stats', '--no-stream', '--format', 'json', 'web'])).trim().split('\n');
    assert.equal(JSON.parse(j ?? '').Name, 'web');
  });

  it('events shows a task starting', async () => {
    const ev = new CtrProcess(process.execPath, [
      BERTH_JS,
      '-a',
      d.socket,
      'events',
      '--format',
      'json',
    ]);
    try {
      // The subscription is live once berth has connected: retry the start until it is seen.
      const id = uniqueId('obs-ev');
      await new Promise((r) => setTimeout(r, 500));
      await ctrOkAsync(d.socket, ['run', '-d', image, id, 'true']);
      await ev.waitOutput('a /tasks/start event', (out) =>
        out
          .split('\n')
          .filter((l) => l !== '')
          .some((l) => {
            const e = JSON.parse(l) as { topic: string; event: { containerId?: string } };
            return e.topic === '/tasks/start' && e.event.containerId === id;
          }),
      );
    } finally {
      ev.kill('SIGINT');
      assert.equal(await ev.exited, 0, ev.stderr);
    }
  });

  it('logs shows the json-file log (label berth/log): streams, --tail, -t, and -f until the task exits', async () => {
    // Removed at the end, so the later tests' container lists stay as they are.
    const id = uniqueId('obs-talker');
    const dir = join(d.dir.path, 'talker-logs');
    mkdirSync(dir, { recursive: true });
    const config = {
      driver: 'json-file',
      path: join(dir, `${id}-json.log`),
      maxSize: 1 << 20,
      maxFiles: 2,
    };
    const uri = loggerURI({ dir, maxSize: config.maxSize, maxFiles: config.maxFiles });
    await ctrOkAsync(d.socket, [
      'run',
      '-d',
      '--log-uri',
      uri,
      '--label',
      'berth/name=talker',
      '--label',
      `berth/log=${JSON.stringify(config)}`,
      image,
      id,
      'sh',
      '-c',
      'echo one; echo two >&2; sleep 2; echo three',
    ]);
    const logs = (...args: string[]) => berth(['logs', ...args]);
    await waitFor('the first two lines', async () => {
      const r = await logs('talker');
      return r.out === 'one\n' && r.err === 'two\n';
    });
    const followed = await logs('-f', 'talker');
    assert.equal(followed.code, 0, followed.err);
    assert.equal(followed.out, 'one\nthree\n');
    assert.equal((await logs('--tail', '1', 'talker')).out, 'three\n');
    assert.match((await logs('-t', 'talker')).out, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z one\n/);
    assert.equal(
      (await logs('-f', 'talker')).out,
      'one\nthree\n',
      'a follow of an exited container ends',
    );
    await ctrOkAsync(d.socket, ['task', 'rm', id]);
    await ctrOkAsync(d.socket, ['containers', 'rm', id]);
    await fails(['logs', 'talker'], 125, /^berth: No such container: talker$/);
    await fails(['logs', 'web'], 125, /^berth: container web has no logs/);
  });

  it('namespace create, ls and rm', async () => {
    const ns = `obs-${process.pid}`;
    assert.equal(await ok(['namespace', 'create', '--label', 'team=a', ns]), '');
    const table = await ok(['namespace', 'ls']);
    assert.match(table, /^NAME +CONTAINERS +IMAGES +VOLUMES +LABELS\n/);
    assert.match(table, new RegExp(`\\n${ns} +0 +0 +0 +team=a\\n`));
    assert.match(table, /\ndefault +[1-9]\d* +1 +0\s/);
    assert.ok((await ok(['namespace', 'ls', '-q'])).split('\n').includes(ns));
    assert.equal(await ok(['namespace', 'rm', ns]), `${ns}\n`);
    assert.ok(!(await ok(['namespace', 'ls', '-q'])).split('\n').includes(ns));
    await fails(['namespace', 'rm', 'default'], 125, /^berth: namespace default: /);
  });

  it('info --format json parses and counts containers by state', async () => {
    const info = JSON.parse(await ok(['info', '--format', 'json'])) as Record<string, any>;
    assert.equal(info.ContainersRunning, 1);
    assert.ok(info.ContainersStopped >= 2);
    assert.equal(info.Images, 1);
    assert.ok(info.Snapshotters.includes('overlayfs'));
    assert.equal(info.DataRoot, dataRoot);
    assert.ok(info.NCPU > 0);
    assert.match(await ok(['info']), /\n Containers: \d+\n {2}Running: 1\n/);
  });

  it('container prune removes only the stopped containers', async () => {
    const out = await ok(['container', 'prune', '-f']);
    assert.match(out, /^Deleted Containers:\n/);
    assert.ok(out.includes(`${done}\n`) && out.includes(`${fresh}\n`), out);
    assert.ok(!out.includes(web), out);
    assert.match(out, /\nTotal reclaimed space: \S+\n$/);
    assert.deepEqual(
      (await ok(['ps', '-a', '-q', '--no-trunc']))
        .trim()
        .split('\n')
        .filter((l) => !l.includes('obs-ev')),
      [web],
    );
    assert.equal(await taskStatus(done), undefined);
    const snapshots = await ctrOkAsync(d.socket, ['snapshots', 'ls']);
    assert.ok(!snapshots.includes(done) && snapshots.includes(web), snapshots);
    // Without -f, a "no" keeps everything.
    const r = await berth(['container', 'prune'], 'n\n');
    assert.equal(r.code, 0);
    assert.match(r.out, /Are you sure you want to continue\? \[y\/N\] $/);
    // system prune -a: nothing stopped is left, and the image is used by web, so it stays.
    const sys = await ok(['system', 'prune', '-a', '-f']);
    assert.equal(sys, 'Total reclaimed space: 0B\n');
    assert.equal(JSON.parse(await ok(['info', '--format', 'json'])).Images, 1);
  });
});
