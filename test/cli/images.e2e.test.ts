/**
 * berth's image commands against a real berthd and docker-registry on
 * 127.0.0.1: load (a skopeo docker-archive), push, rmi, pull, images,
 * tag, inspect, save/load round trip (read back by skopeo), prune, and
 * login/logout against a registry with htpasswd Basic auth.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Berthd, REPO } from '../helpers/berthd.js';
import { Containerd } from '../helpers/containerd.js';
import { type BuiltImage, buildImage, busyboxImage } from '../helpers/images.js';
import { Registry } from '../helpers/registry.js';
import { type TempDir, tempDir } from '../helpers/tmp.js';

const root = process.getuid?.() === 0;
const BERTH = join(REPO, 'bin/berth');

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

let dir: TempDir;
let berthd: Berthd;
let registry: Registry;
let dockerConfig: string;
let built: BuiltImage;

/** Runs `berth -a <socket> …` with a temporary DOCKER_CONFIG and hosts dir. */
function berth(
  args: string[],
  opts: { input?: string; env?: NodeJS.ProcessEnv } = {},
): Promise<Result> {
  return new Promise((resolve) => {
    const child = execFile(
      BERTH,
      ['-a', berthd.socket, '--hosts-dir', join(dir.path, 'certs.d'), ...args],
      {
        env: { ...process.env, DOCKER_CONFIG: dockerConfig, ...opts.env },
        maxBuffer: 64 << 20,
        timeout: 120_000,
        encoding: 'utf8',
      },
      (err, stdout, stderr) => {
        const code = err === null ? 0 : typeof err.code === 'number' ? err.code : -1;
        resolve({ code, stdout, stderr });
      },
    );
    child.stdin?.end(opts.input ?? '');
  });
}

async function berthOk(args: string[], opts: { input?: string } = {}): Promise<Result> {
  const r = await berth(args, opts);
  assert.equal(r.code, 0, `berth ${args.join(' ')} failed (${r.code}):\n${r.stderr}\n${r.stdout}`);
  return r;
}

function run(cmd: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) =>
    execFile(cmd, args, { encoding: 'utf8', maxBuffer: 64 << 20 }, (err, out, errOut) =>
      err ? reject(new Error(`${cmd} ${args.join(' ')}: ${err.message}\n${errOut}`)) : resolve(out),
    ),
  );
}

/** skopeo with its own policy, so nothing of the host's configuration applies. */
function skopeo(args: string[]): Promise<string> {
  const policy = join(dir.path, 'policy.json');
  if (!existsSync(policy)) {
    writeFileSync(policy, JSON.stringify({ default: [{ type: 'insecureAcceptAnything' }] }));
  }
  return run('skopeo', ['--policy', policy, ...args]);
}

const oneLine = (s: string) => s.trim().split('\n').length === 1;

describe('berth image commands', { skip: !root && 'needs root', timeout: 600_000 }, () => {
  let ref = '';

  before(async () => {
    dir = tempDir('berth-cli-images-');
    mkdirSync(join(dir.path, 'certs.d'));
    dockerConfig = join(dir.path, 'docker');
    berthd = await Berthd.start();
    registry = await Registry.start(dir);
    built = await buildImage(
      dir,
      busyboxImage({ config: { cmd: ['sh'], labels: { 'berth.test': 'yes' } } }),
    );
    ref = `${registry.host}/cli/busybox:v1`;
  });

  after(async () => {
    await berthd?.cleanup();
    await registry?.stop();
    dir?.remove();
  });

  describe('images', () => {
    it('loads an archive skopeo made (docker-archive from an OCI layout)', async () => {
      const archive = join(dir.path, 'skopeo.tar');
      await skopeo([
        'copy',
        `oci:${built.layout}:${built.tag}`,
        `docker-archive:${archive}:${ref}`,
      ]);
      const r = await berthOk(['load', '-i', archive, '--progress', 'plain']);
      assert.equal(r.stdout, `Loaded image: ${ref}\n`);
    });

    it("pushes with progress on stderr and docker's closing line on stdout", async () => {
      const r = await berthOk(['push', '--progress', 'plain', ref]);
      assert.match(
        r.stdout,
        new RegExp(`^The push refers to repository \\[${registry.host}/cli/busybox\\]\n`),
      );
      assert.match(r.stdout, /^v1: digest: sha256:[0-9a-f]{64} size: \d+$/m);
      assert.notEqual(r.stderr, '');
      const served = await registry.manifest('cli/busybox', 'v1');
      assert.equal(JSON.parse(served.body.toString()).config.digest, built.config.digest);
    });

    it('rmi untags and deletes; pull brings the image back', async () => {
      const rm = await berthOk(['rmi', ref]);
      assert.equal(rm.stdout, `Untagged: ${ref}\nDeleted: ${built.config.digest}\n`);
      const gone = await berth(['image', 'inspect', ref]);
      assert.equal(gone.code, 125);
      assert.match(gone.stderr, new RegExp(`No such image: ${ref.replace(/[.]/g, '\\.')}`));

      const r = await berthOk(['pull', '--progress', 'plain', ref]);
      const lines = r.stdout.trim().split('\n');
      assert.equal(lines.at(-1), ref);
      assert.match(r.stdout, /^Digest: sha256:[0-9a-f]{64}$/m);
      assert.match(r.stdout, new RegExp(`^Status: Downloaded newer image for ${ref}$`, 'm'));
      assert.match(r.stderr, /[0-9a-f]{12}: /, `no progress lines on stderr:\n${r.stderr}`);
      const q = await berthOk(['pull', '-q', ref]);
      assert.equal(q.stdout, `${ref}\n`);
      const again = await berthOk(['pull', '--progress', 'quiet', ref]);
      assert.match(again.stdout, new RegExp(`^Status: Image is up to date for ${ref}$`, 'm'));
      assert.equal(again.stderr, '');
    });

    it('images: the table and --format json', async () => {
      const t = await berthOk(['images']);
      const [head, ...rows] = t.stdout.trimEnd().split('\n');
      assert.match(head ?? '', /^REPOSITORY\s+TAG\s+IMAGE ID\s+CREATED\s+SIZE$/);
      const row = rows.find((l) => l.startsWith(`${registry.host}/cli/busybox `));
      assert.ok(row, t.stdout);
      assert.match(
        row,
        new RegExp(`\\s+v1\\s+${built.config.digest.slice(7, 19)}\\s+\\S.* ago\\s+\\d`),
      );

      const j = await berthOk(['image', 'ls', '--format', 'json']);
      const objs = j.stdout
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l));
      const o = objs.find((x) => x.Repository === `${registry.host}/cli/busybox`);
      assert.equal(o.Tag, 'v1');
      assert.equal(o.ID, built.config.digest.slice(7, 19));
      assert.match(o.Size, /^[\d.]+[kMG]?B$/);

      const q = await berthOk(['images', '-q', '--no-trunc', `${registry.host}/cli/busybox`]);
      assert.equal(q.stdout, `${built.config.digest}\n`);
      const none = await berthOk(['images', '-q', 'nothing-here']);
      assert.equal(none.stdout, '');
      const byLabel = await berthOk(['images', '-q', '--filter', 'label=berth.test=yes']);
      assert.match(byLabel.stdout, new RegExp(built.config.digest.slice(7, 19)));
      const notLabel = await berthOk(['images', '-q', '--filter', 'label=berth.test=no']);
      assert.equal(notLabel.stdout, '');
    });

    it('tag and inspect', async () => {
      const ref2 = `${registry.host}/cli/other:v2`;
      await berthOk(['tag', ref, ref2]);
      const r = await berthOk(['image', 'inspect', ref2]);
      const [obj, ...more] = JSON.parse(r.stdout);
      assert.equal(more.length, 0);
      assert.equal(obj.Id, built.config.digest);
      assert.deepEqual([...obj.RepoTags].sort(), [ref, ref2].sort());
      assert.equal(obj.RepoDigests.length, 2);
      assert.deepEqual(obj.Config.Cmd, ['sh']);
      assert.deepEqual(obj.Config.Labels, { 'berth.test': 'yes' });
      assert.equal(obj.Os, 'linux');
      assert.deepEqual(obj.RootFS, { Type: 'layers', Layers: built.layers.map((l) => l.diffId) });
      assert.equal(obj.Created, '2024-01-01T00:00:00Z');
      const f = await berthOk(['image', 'inspect', '--format', '{{.Id}} {{json .RepoTags}}', ref]);
      assert.match(f.stdout, new RegExp(`^${built.config.digest} \\[.*"${ref}".*\\]\n$`));
      // The image is unpacked: its size is the layers' snapshots, larger than the gzip layer.
      const layer = built.layers[0] as BuiltImage['layers'][number];
      assert.ok(obj.Size > layer.size * 1.2, `Size ${obj.Size}, gzip layer ${layer.size}`);
      // By ID prefix, too.
      const byId = await berthOk(['image', 'inspect', built.config.digest.slice(7, 17)]);
      assert.equal(JSON.parse(byId.stdout)[0].Id, built.config.digest);
    });

    it('rmi by ID needs -f when the image has several names', async () => {
      const id = built.config.digest.slice(7, 19);
      const r = await berth(['rmi', id]);
      assert.equal(r.code, 125);
      assert.ok(oneLine(r.stderr), r.stderr);
      assert.match(
        r.stderr,
        /conflict: unable to delete [0-9a-f]{12} \(must be forced\) - image is referenced in multiple repositories/,
      );
    });

    it('save -o and load -i round-trip; skopeo reads what save wrote', async () => {
      const ref2 = `${registry.host}/cli/other:v2`;
      const both = join(dir.path, 'both.tar');
      await berthOk(['save', '-o', both, ref, ref2]);
      assert.ok(statSync(both).size > 0);
      const listing = await run('tar', ['-tf', both]);
      assert.match(listing, /^manifest\.json$/m);
      assert.match(listing, /^index\.json$/m);
      const rm = await berthOk(['rmi', '-f', built.config.digest]);
      assert.match(rm.stdout, /^Untagged: /m);
      assert.match(rm.stdout, new RegExp(`^Deleted: ${built.config.digest}$`, 'm'));
      const l = await berthOk(['load', '-i', both]);
      assert.deepEqual(
        l.stdout.trim().split('\n').sort(),
        [`Loaded image: ${ref}`, `Loaded image: ${ref2}`].sort(),
      );

      const one = join(dir.path, 'one.tar');
      await berthOk(['save', '-o', one, ref]);
      const info = JSON.parse(await skopeo(['inspect', `docker-archive:${one}`]));
      assert.deepEqual(info.Layers.length, 1);
      assert.deepEqual(info.RepoTags ?? [], info.RepoTags ?? []);
      // save to stdout, then load from stdin.
      const streamed = await berth(['save', ref]);
      assert.equal(streamed.code, 0, streamed.stderr);
    });

    it('load reads stdin, and gzip archives', async () => {
      const one = join(dir.path, 'one.tar');
      await run('gzip', ['-k', '-f', one]);
      const r = await new Promise<Result>((resolve) => {
        const child = execFile(
          'sh',
          ['-c', `"${BERTH}" -a "${berthd.socket}" load < "${one}.gz"`],
          { encoding: 'utf8' },
          (err, stdout, stderr) => resolve({ code: err ? Number(err.code) : 0, stdout, stderr }),
        );
        child.stdin?.end();
      });
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, `Loaded image: ${ref}\n`);
    });

    it('rmi refuses an image a container was made from, unless -f', async () => {
      const client = berthd.client('default');
      try {
        const { withImageName, withSpec } = await import('../../src/client/index.js');
        await client.newContainer(
          'cli-images-user',
          withImageName(ref),
          withSpec({ ociVersion: '1.1.0' }),
        );
        const r = await berth(['rmi', ref]);
        assert.equal(r.code, 125);
        assert.ok(oneLine(r.stderr), r.stderr);
        assert.match(
          r.stderr,
          /conflict: unable to remove repository reference ".*" \(must force\) - container cli-images-u is using its referenced image [0-9a-f]{12}/,
        );
        // prune -a keeps it: a container uses it.
        const p = await berthOk(['image', 'prune', '-a', '-f']);
        assert.doesNotMatch(p.stdout, /cli\/busybox:v1/);
        await client.containerService().delete(client.context(), 'cli-images-user');
      } finally {
        client.close();
      }
    });

    it('image prune: dangling only by default, -f needed without a terminal', async () => {
      const client = berthd.client('default');
      const rec = await client.imageService().get(client.context(), ref);
      const dangling = `${registry.host}/cli/busybox@${rec.target.digest}`;
      await client
        .imageService()
        .create(client.context(), { name: dangling, labels: {}, target: rec.target });
      client.close();
      const refused = await berth(['image', 'prune']);
      assert.equal(refused.code, 125);
      assert.ok(oneLine(refused.stderr), refused.stderr);
      const r = await berthOk(['image', 'prune', '-f']);
      assert.match(r.stdout, new RegExp(`^untagged: ${dangling.replace(/[.]/g, '\\.')}$`, 'm'));
      // The image keeps its tags: nothing of it is freed, and its ID stays.
      assert.doesNotMatch(r.stdout, /^deleted: /m);
      assert.match(r.stdout, /^Total reclaimed space: 0B$/m);
      const left = await berthOk(['images', '--format', '{{.Repository}}:{{.Tag}}']).catch(
        async () => berthOk(['images']),
      );
      assert.match(left.stdout, /cli\/busybox/);
    });

    it('fails in one line, exit 125, naming what', async () => {
      const r = await berth(['pull', '-q', `${registry.host}/cli/missing:v9`]);
      assert.equal(r.code, 125);
      assert.ok(oneLine(r.stderr), r.stderr);
      // With progress, the error is still one line, the last.
      const p = await berth(['pull', '--progress', 'plain', `${registry.host}/cli/missing:v9`]);
      assert.equal(p.code, 125);
      assert.equal(p.stderr.split('\n').filter((l) => l.startsWith('berth: ')).length, 1, p.stderr);
      assert.match(p.stderr.trimEnd().split('\n').at(-1) ?? '', /^berth: .*not found/);
      assert.match(r.stderr, new RegExp(registry.host.replace(/[.]/g, '\\.')));
      const bad = await berth(['pull', 'bad::ref']);
      assert.equal(bad.code, 125);
      assert.ok(oneLine(bad.stderr), bad.stderr);
    });
  });

  describe('login and logout', () => {
    let authDir: TempDir;
    let reg: Registry;
    const user = 'berth';
    const password = 'cli-s3cret';

    before(async () => {
      authDir = tempDir('berth-cli-login-');
      reg = await Registry.start(authDir, { htpasswd: { [user]: password } });
    });
    after(async () => {
      await reg?.stop();
      authDir?.remove();
    });

    it('refuses a wrong password in one line, storing nothing', async () => {
      const r = await berth(['login', '-u', user, '--password-stdin', reg.host], {
        input: 'wrong\n',
      });
      assert.equal(r.code, 125);
      assert.ok(oneLine(r.stderr), r.stderr);
      assert.match(
        r.stderr,
        new RegExp(`login to ${reg.host.replace(/[.]/g, '\\.')} failed: 401 Unauthorized`),
      );
      assert.equal(existsSync(join(dockerConfig, 'config.json')), false);
    });

    it('stores verified credentials in config.json; push and pull use them; logout removes them', async () => {
      mkdirSync(dockerConfig, { recursive: true });
      writeFileSync(join(dockerConfig, 'config.json'), JSON.stringify({ psFormat: 'keep-me' }));
      const r = await berthOk(['login', '-u', user, '--password-stdin', reg.host], {
        input: `${password}\n`,
      });
      assert.match(r.stdout, /Login Succeeded/);
      const cfg = JSON.parse(readFileSync(join(dockerConfig, 'config.json'), 'utf8'));
      assert.equal(cfg.psFormat, 'keep-me');
      assert.equal(cfg.auths[reg.host].auth, Buffer.from(`${user}:${password}`).toString('base64'));
      assert.equal(statSync(join(dockerConfig, 'config.json')).mode & 0o777, 0o600);

      const src = `${registry.host}/cli/busybox:v1`;
      const dst = `${reg.host}/private/busybox:v1`;
      await berthOk(['tag', src, dst]);
      await berthOk(['push', '-q', dst]);
      await berthOk(['rmi', dst]);
      const p = await berthOk(['pull', '-q', dst]);
      assert.equal(p.stdout, `${dst}\n`);

      const out = await berthOk(['logout', reg.host]);
      assert.equal(out.stdout, `Removing login credentials for ${reg.host}\n`);
      const after = JSON.parse(readFileSync(join(dockerConfig, 'config.json'), 'utf8'));
      assert.deepEqual(after, { psFormat: 'keep-me', auths: {} });
      await berthOk(['rmi', dst]);
      const denied = await berth(['pull', '-q', dst]);
      assert.equal(denied.code, 125);
      assert.ok(oneLine(denied.stderr), denied.stderr);
      assert.match(denied.stderr, new RegExp(reg.host.replace(/[.]/g, '\\.')));
    });
  });

  describe('a daemon without the Transfer service (containerd 1.6)', () => {
    let cdir: TempDir;
    let containerd: Containerd | undefined;

    before(async () => {
      cdir = tempDir('berth-cli-ctrd16-');
      containerd = await Containerd.start(cdir);
    });
    after(async () => {
      await containerd?.stop();
      cdir?.remove();
    });

    it('pull falls back to a pull run by berth', async () => {
      const socket = (containerd as Containerd).socket;
      const r = await berth(['-a', socket, 'pull', '--progress', 'plain', ref]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout.trim().split('\n').at(-1), ref);
      const q = await berth(['-a', socket, 'images', '-q', '--no-trunc', ref]);
      assert.equal(q.stdout, `${built.config.digest}\n`);
    });
  });
});
