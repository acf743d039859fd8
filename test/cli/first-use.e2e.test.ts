import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { CliEnv, until } from '../helpers/cli-env.js';
import { ctrOkAsync, table } from '../helpers/ctr.js';
import { alive, mountsUnder } from '../helpers/daemon.js';
import { type BuiltImage, buildAndPush, httpdImage } from '../helpers/images.js';
import { freePort } from '../helpers/registry.js';

const root = process.getuid?.() === 0;

const PAGE = '<h1>berth says hello</h1>\n';

/** Every path below `dir` (relative), for "nothing names the container" checks. */
function walk(dir: string, rel = ''): string[] {
  if (!existsSync(join(dir, rel))) return [];
  const out: string[] = [];
  for (const e of readdirSync(join(dir, rel), { withFileTypes: true })) {
    const p = rel === '' ? e.name : `${rel}/${e.name}`;
    out.push(p);
    if (e.isDirectory()) out.push(...walk(dir, p));
  }
  return out;
}

const netnsNames = () =>
  execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' })
    .split('\n')
    .map((l) => l.split(' ')[0] ?? '')
    .filter((n) => n !== '');

/**
 * Issue 13's first acceptance test, as a new user meets berth: pull an
 * image from a registry, run a web server with a published port, fetch the
 * page, read the server's log, exec into it, list it, stop and remove it;
 * then nothing of it is left: no container, task, active snapshot, netns,
 * IP, iptables rule or state directory.
 */
describe('berth, as a new user meets it', { skip: !root && 'needs root' }, () => {
  let env: CliEnv;
  let image: BuiltImage;
  let ref: string;
  let port: number;
  let id: string;
  let pid: number;
  let ip: string;
  let netnsBefore: string[];

  before(async () => {
    env = await CliEnv.start();
    const built = await buildAndPush(env.work, env.registry, httpdImage(PAGE), 'library/web:1.0');
    image = built;
    ref = built.pushed.ref;
    netnsBefore = netnsNames();
  });
  after(async () => {
    await env?.cleanup();
  });

  it('berth pull shows each layer on stderr and the reference on stdout', async () => {
    const r = await env.cli.run(['pull', ref]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim().split('\n').at(-1), ref, r.stdout);
    // Plain progress (stderr is a pipe): lines `<12 hex of the layer digest>: <state>`.
    for (const layer of image.layers) {
      const short = layer.digest.slice('sha256:'.length, 'sha256:'.length + 12);
      assert.match(r.stderr, new RegExp(`^${short}: \\S`, 'm'), `layer ${short}:\n${r.stderr}`);
    }
    assert.ok(!r.stderr.includes('\u001b['), 'no terminal redraws in a log');
    const images = await env.cli.ok(['images']);
    assert.match(images, /127\.0\.0\.1:\d+\/library\/web\s+1\.0\s/, images);
  });

  it('berth run -d -p 127.0.0.1:PORT:80 --name web starts the server', async () => {
    port = await freePort();
    const r = await env.cli.run(['run', '-d', '-p', `127.0.0.1:${port}:80`, '--name', 'web', ref]);
    assert.equal(r.code, 0, r.stderr);
    id = r.stdout.trim();
    assert.match(id, /^[0-9a-f]{64}$/, 'docker prints the full container ID');
    const [info] = JSON.parse(await env.cli.ok(['inspect', 'web'])) as {
      Id: string;
      Name: string;
      State: { Running: boolean; Pid: number };
    }[];
    assert.equal(info?.Id, id);
    assert.equal(info?.State.Running, true);
    pid = info?.State.Pid ?? 0;
    assert.ok(pid > 0 && alive(pid), `pid ${pid}`);
    const ips = env.net.allocatedIps();
    assert.equal(ips.length, 1, `one IP of ${env.net.subnet}: ${ips}`);
    ip = ips[0] as string;
  });

  it('an HTTP GET on 127.0.0.1:PORT returns the page', async () => {
    const body = await until(
      `the page on 127.0.0.1:${port}`,
      async () => {
        const res = await fetch(`http://127.0.0.1:${port}/index.html`, {
          signal: AbortSignal.timeout(2000),
        });
        return `${res.status} ${await res.text()}`;
      },
      (b) => b.startsWith('200 '),
      10_000,
    );
    assert.equal(body, `200 ${PAGE}`);
  });

  it('berth logs web shows the request, on stderr as the server wrote it', async () => {
    const r = await until(
      'the request in the log',
      () => env.cli.run(['logs', 'web']),
      (r) => r.stderr.includes('url:/index.html'),
      10_000,
    );
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /: response:200$/m);
    assert.equal(r.stdout, '', 'httpd writes nothing on stdout');
  });

  it('berth exec web ls / lists the image root', async () => {
    const out = await env.cli.ok(['exec', 'web', 'ls', '/']);
    const names = out.split(/\s+/).filter((n) => n !== '');
    assert.ok(names.includes('www'), out);
    assert.ok(names.includes('bin'), out);
  });

  it('berth ps lists web with its published port', async () => {
    const out = await env.cli.ok(['ps']);
    const [head, ...rows] = out.trimEnd().split('\n');
    assert.match(head ?? '', /^CONTAINER ID\s+IMAGE\s+COMMAND\s+CREATED\s+STATUS\s+PORTS\s+NAMES$/);
    assert.equal(rows.length, 1, out);
    const row = rows[0] as string;
    assert.ok(row.startsWith(id.slice(0, 12)), row);
    assert.match(row, new RegExp(`127\\.0\\.0\\.1:${port}->80/tcp\\s+web$`), row);
    assert.match(row, /\sUp /, row);
  });

  it('berth stop web && berth rm web leave nothing behind', async () => {
    assert.equal(await env.cli.ok(['stop', 'web']), 'web\n');
    assert.ok(!alive(pid), 'the server process is gone');
    assert.equal(await env.cli.ok(['rm', 'web']), 'web\n');

    assert.equal(await env.cli.ok(['ps', '-a', '-q']), '');
    const sock = env.d.socket;
    assert.equal(await ctrOkAsync(sock, ['containers', 'ls', '-q']), '', 'no container record');
    assert.equal(await ctrOkAsync(sock, ['tasks', 'ls', '-q']), '', 'no task');
    const active = table(await ctrOkAsync(sock, ['snapshots', 'ls']))
      .slice(1)
      .filter((row) => row.at(-1) !== 'Committed');
    assert.deepEqual(active, [], 'no active snapshot');
    assert.deepEqual(mountsUnder(env.d.dir.path), [], "no mount under berthd's root and state");

    assert.deepEqual(mountsUnder(env.dataRoot), [], 'no netns bind mount under the data root');
    assert.deepEqual(netnsNames(), netnsBefore, 'no named netns');
    assert.deepEqual(env.net.allocatedIps(), [], 'no IP allocation');
    assert.deepEqual(env.net.podChains(), [], 'no portmap chain');
    const rules = execFileSync('iptables-save', { encoding: 'utf8' });
    const about = rules
      .split('\n')
      .filter((l) => l.includes(id) || new RegExp(`\\b${ip.replaceAll('.', '\\.')}\\b`).test(l));
    assert.deepEqual(about, [], `no iptables rule names ${id} or ${ip}`);

    assert.ok(!existsSync(env.stateDir(id)), `${env.stateDir(id)} removed`);
    const named = walk(env.dataRoot).filter((p) => p.includes(id) || p.includes(ip));
    assert.deepEqual(named, [], 'nothing under the data root names the container or its IP');
  });
});
