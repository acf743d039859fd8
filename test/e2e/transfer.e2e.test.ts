/**
 * containerd 1.7's `ctr images pull|push|import|export --local=false`, which
 * go through the daemon's Transfer and Streaming services, against berthd,
 * and the same commands on containerd 1.7.13 where it can run them.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Berthd } from '../helpers/berthd.js';
import { CONTAINERD17_BIN, Containerd, CTR17, containerd17Missing } from '../helpers/containerd.js';
import { type CtrResult, ctrAsync, ctrOkAsync, table } from '../helpers/ctr.js';
import {
  type BuiltImage,
  buildAndPush,
  buildImage,
  busyboxImage,
  type Pushed,
} from '../helpers/images.js';
import { Registry, TokenServer } from '../helpers/registry.js';
import { type TempDir, tempDir } from '../helpers/tmp.js';
import { sendStream, TransferTestClient } from '../helpers/transfer-client.js';

const root = process.getuid?.() === 0;
const skip = !root ? 'needs root' : containerd17Missing();
const USER = { username: 'alice', password: 'transfer-s3cret' };
const PLATFORM = 'linux/amd64';
/** A registry host known only from berthd's hosts.toml directory. */
const MIRRORED = 'registry.berth.test';

/** containerd 1.7's ctr against `socket`. */
const ctr17 = (socket: string, args: string[], namespace?: string): Promise<CtrResult> =>
  ctrAsync(socket, args, { bin: CTR17, timeoutMs: 120_000, ...(namespace && { namespace }) });
const ctr17Ok = (socket: string, args: string[], namespace?: string): Promise<string> =>
  ctrOkAsync(socket, args, { bin: CTR17, timeoutMs: 120_000, ...(namespace && { namespace }) });
/** Debian's ctr (1.6), for what is not a transfer. */
const ctrOk = (socket: string, args: string[], namespace?: string): Promise<string> =>
  ctrOkAsync(socket, args, { timeoutMs: 60_000, ...(namespace && { namespace }) });

/** `ctr images ls` as name → target digest. */
async function images(socket: string, namespace?: string): Promise<Map<string, string>> {
  const rows = table(await ctrOk(socket, ['images', 'ls'], namespace)).slice(1);
  return new Map(rows.map((r) => [r[0] ?? '', r[2] ?? '']));
}

/** GNU tar reads the archive to its end without complaint. */
/**
 * Whether an export is whole: tar reads it to the end, and it holds the
 * index and the manifest list an export writes (a cut on an entry boundary
 * reads as a valid, shorter archive).
 */
function tarComplete(path: string): boolean {
  const r = spawnSync('tar', ['-tf', path], { encoding: 'utf8' });
  const names = new Set(r.stdout.split('\n'));
  return r.status === 0 && names.has('index.json') && names.has('manifest.json');
}

function sha256File(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex');
}

async function contentDigests(socket: string, namespace?: string): Promise<string[]> {
  return table(await ctrOk(socket, ['content', 'ls'], namespace))
    .slice(1)
    .map((r) => r[0] ?? '')
    .sort();
}

describe('ctr 1.7 --local=false: the Transfer service', { skip }, () => {
  let dir: TempDir;
  let authDir: TempDir;
  let dir17: TempDir;
  let reg: Registry;
  let authReg: Registry;
  let tokens: TokenServer;
  let tokenReg: Registry;
  let d: Berthd;
  let c17: Containerd;
  let busybox: BuiltImage & { pushed: Pushed };

  before(async () => {
    dir = tempDir();
    authDir = tempDir();
    dir17 = tempDir();
    reg = await Registry.start(dir);
    authReg = await Registry.start(authDir, { htpasswd: { [USER.username]: USER.password } });
    busybox = await buildAndPush(dir, reg, busyboxImage(), 'berth/busybox:v1');
    // Token auth over the same storage: a token server that knows a password and an identity token.
    tokens = await TokenServer.start(authDir, {
      users: { bob: 'token-pw' },
      refreshTokens: { 'bob-identity': 'bob' },
    });
    tokenReg = await Registry.start(authDir, { storage: reg.storage, token: tokens.registryAuth });
    // berthd's registry config dir: a name that exists only there, served by the plain-HTTP registry.
    const certs = join(dir.path, 'certs.d');
    mkdirSync(join(certs, MIRRORED), { recursive: true });
    writeFileSync(
      join(certs, MIRRORED, 'hosts.toml'),
      `server = "${reg.url}"\n\n[host."${reg.url}"]\n  capabilities = ["pull", "resolve"]\n`,
    );
    d = await Berthd.start({
      configToml: `version = 2\n[plugins."io.containerd.transfer.v1.local"]\n  config_path = "${certs}"\n`,
    });
    c17 = await Containerd.start(dir17, { binDir: CONTAINERD17_BIN });
  });
  after(async () => {
    await d?.cleanup();
    await c17?.stop();
    await reg?.stop();
    await authReg?.stop();
    await tokenReg?.stop();
    await tokens?.close();
    dir?.remove();
    authDir?.remove();
    dir17?.remove();
  });

  it('pulls with --platform: progress shown, image recorded, layers unpacked, ctr run works', async () => {
    const ref = busybox.pushed.ref;
    const out = await ctr17Ok(d.socket, [
      'images',
      'pull',
      '--local=false',
      '--platform',
      PLATFORM,
      ref,
    ]);
    // ctr 1.7 redraws its progress table; every frame is in the output.
    assert.match(out, /Pulling from OCI Registry/, out);
    const layer = busybox.layers[0]?.digest ?? '';
    assert.ok(out.includes(`layer (${layer.slice(7, 19)})`), `a row for the layer:\n${out}`);
    assert.match(out, /complete|already exists/, out);
    assert.ok(out.includes(`${ref}`) && /saved/.test(out), `the saved image:\n${out}`);

    assert.equal((await images(d.socket)).get(ref), busybox.pushed.digest);
    const snaps = table(await ctrOk(d.socket, ['snapshots', 'ls'])).slice(1);
    assert.equal(snaps.length, busybox.layers.length, JSON.stringify(snaps));
    assert.ok(snaps.every((r) => r.at(-1) === 'Committed'));
    const hello = await ctrOk(d.socket, [
      'run',
      '--rm',
      ref,
      `transfer-run-${process.pid}`,
      'echo',
      'hello from transfer',
    ]);
    assert.equal(hello.trim(), 'hello from transfer');
  });

  it('without --platform ctr 1.7 still asks to unpack for the host platform', async () => {
    // ctr adds platforms.DefaultSpec() to the image store's unpacks when no
    // --platform is given (cmd/ctr/commands/images/pull.go).
    const ns = 'default-platform';
    await ctr17Ok(d.socket, ['images', 'pull', '--local=false', busybox.pushed.ref], ns);
    assert.equal((await images(d.socket, ns)).get(busybox.pushed.ref), busybox.pushed.digest);
    const snaps = table(await ctrOk(d.socket, ['snapshots', 'ls'], ns)).slice(1);
    assert.equal(snaps.length, busybox.layers.length, JSON.stringify(snaps));
  });

  it("pulls a host configured in berthd's config_path (hosts.toml with an http:// server)", async () => {
    const ns = 'hosts-toml';
    const ref = `${MIRRORED}/berth/busybox:v1`;
    await ctr17Ok(d.socket, ['images', 'pull', '--local=false', ref], ns);
    assert.equal((await images(d.socket, ns)).get(ref), busybox.pushed.digest);
  });

  it('pushes and pulls with --user: credentials are asked over the auth stream', async () => {
    const target = `${authReg.host}/berth/busybox:authed`;
    const user = `${USER.username}:${USER.password}`;
    const denied = await ctr17(d.socket, [
      'images',
      'push',
      '--local=false',
      target,
      busybox.pushed.ref,
    ]);
    assert.notEqual(denied.code, 0, 'no credentials: the registry refuses');
    assert.match(denied.stderr, /401|unauthorized|unauthenticated/i, denied.stderr);
    assert.ok(
      denied.stderr.includes(authReg.host),
      `the error names the registry: ${denied.stderr}`,
    );

    const pushed = await ctr17Ok(d.socket, [
      'images',
      'push',
      '--local=false',
      '--user',
      user,
      target,
      busybox.pushed.ref,
    ]);
    assert.match(pushed, /Pushing to OCI Registry|pushed content|complete/, pushed);
    const r = await fetch(`${authReg.url}/v2/berth/busybox/manifests/authed`, {
      method: 'HEAD',
      headers: {
        authorization: `Basic ${Buffer.from(user).toString('base64')}`,
        accept: 'application/vnd.oci.image.manifest.v1+json',
      },
    });
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('docker-content-digest'), busybox.pushed.digest);

    const ns = 'authed';
    const anon = await ctr17(d.socket, ['images', 'pull', '--local=false', target], ns);
    assert.notEqual(anon.code, 0);
    assert.match(anon.stderr, /401|unauthorized|unauthenticated/i, anon.stderr);
    const wrong = await ctr17(
      d.socket,
      ['images', 'pull', '--local=false', '--user', `${USER.username}:nope`, target],
      ns,
    );
    assert.notEqual(wrong.code, 0, 'a wrong password is refused');
    await ctr17Ok(
      d.socket,
      ['images', 'pull', '--local=false', '--platform', PLATFORM, '--user', user, target],
      ns,
    );
    assert.equal((await images(d.socket, ns)).get(target), busybox.pushed.digest);
  });

  it('tags with --local=false (image store to image store)', async () => {
    const tagged = `${reg.host}/berth/busybox:tagged`;
    const out = await ctr17Ok(d.socket, [
      'images',
      'tag',
      '--local=false',
      busybox.pushed.ref,
      tagged,
    ]);
    assert.equal(out.trim(), tagged);
    assert.equal((await images(d.socket)).get(tagged), busybox.pushed.digest);
    const r = await ctr17(d.socket, [
      'images',
      'tag',
      '--local=false',
      `${reg.host}/no/such:image`,
      tagged,
    ]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /not found/, r.stderr);
  });

  it('token auth: --user and --refresh are answered on the auth stream and exchanged for tokens', async () => {
    const ref = `${tokenReg.host}/berth/busybox:v1`;
    const anon = await ctr17(d.socket, ['images', 'pull', '--local=false', ref], 'token-anon');
    assert.notEqual(anon.code, 0, 'no credentials, no token');
    assert.match(anon.stderr, /401|unauthorized|unauthenticated/i, anon.stderr);

    const before = tokens.requests.length;
    await ctr17Ok(
      d.socket,
      ['images', 'pull', '--local=false', '--user', 'bob:token-pw', ref],
      'token-user',
    );
    assert.equal((await images(d.socket, 'token-user')).get(ref), busybox.pushed.digest);
    const byPassword = tokens.requests.slice(before);
    assert.ok(
      byPassword.some(
        (q) => q.user === 'bob' && q.scopes.includes('repository:berth/busybox:pull'),
      ),
      JSON.stringify(byPassword),
    );

    const mid = tokens.requests.length;
    await ctr17Ok(
      d.socket,
      ['images', 'pull', '--local=false', '--refresh', 'bob-identity', ref],
      'token-refresh',
    );
    assert.equal((await images(d.socket, 'token-refresh')).get(ref), busybox.pushed.digest);
    const byRefresh = tokens.requests.slice(mid);
    assert.ok(
      byRefresh.some((q) => q.method === 'POST' && q.user === 'bob'),
      `an identity token is exchanged with a POST refresh_token grant: ${JSON.stringify(byRefresh)}`,
    );
  });

  it('exports and imports: berthd → archive → berthd and containerd 1.7.13 → archive → berthd', async () => {
    const ref = busybox.pushed.ref;
    const archive = join(dir.path, 'berthd-export.tar');
    // ctr shows only named progress rows; an export sends status lines only, so it prints nothing.
    await ctr17Ok(d.socket, ['images', 'export', '--local=false', archive, ref]);
    const entries = execFileSync('tar', ['-tf', archive], { encoding: 'utf8' }).split('\n');
    // Exported again and again, byte for byte the same archive: berthd's exports are never cut short.
    const first = sha256File(archive);
    for (let i = 0; i < 5; i++) {
      const again = join(dir.path, `berthd-export-${i}.tar`);
      await ctr17Ok(d.socket, ['images', 'export', '--local=false', again, ref]);
      assert.equal(sha256File(again), first, `export ${i} is the same archive`);
    }
    for (const want of ['index.json', 'oci-layout', 'manifest.json']) {
      assert.ok(entries.includes(want), `${want} in ${entries.join(' ')}`);
    }

    // Into another namespace of berthd: the same image, unpacked.
    const ns = 'roundtrip';
    const imported = await ctr17Ok(
      d.socket,
      ['images', 'import', '--local=false', '--platform', PLATFORM, archive],
      ns,
    );
    assert.match(imported, /saved/, imported);
    assert.equal((await images(d.socket, ns)).get(ref), busybox.pushed.digest);
    assert.equal(
      table(await ctrOk(d.socket, ['snapshots', 'ls'], ns)).slice(1).length,
      busybox.layers.length,
    );

    // containerd 1.7.13 imports berthd's archive and exports its own, which berthd imports.
    await ctr17Ok(c17.socket, [
      'images',
      'import',
      '--local=false',
      '--platform',
      PLATFORM,
      archive,
    ]);
    assert.equal((await images(c17.socket)).get(ref), busybox.pushed.digest);
    // containerd 1.7.13's own Transfer export loses the end of the archive now and then (ctr
    // closes the file when Transfer returns, while its receiving goroutine may still be
    // writing); berthd's answers only once ctr has acknowledged the last bytes. Take the
    // first complete one.
    const archive17 = join(dir17.path, 'containerd17-export.tar');
    let truncated17 = 0;
    for (;;) {
      await ctr17Ok(c17.socket, ['images', 'export', '--local=false', archive17, ref]);
      if (tarComplete(archive17)) break;
      assert.ok(++truncated17 < 5, 'containerd 1.7.13 gave a complete export within 5 tries');
    }
    const ns17 = 'from-containerd17';
    await ctr17Ok(
      d.socket,
      ['images', 'import', '--local=false', '--platform', PLATFORM, archive17],
      ns17,
    );
    assert.equal((await images(d.socket, ns17)).get(ref), busybox.pushed.digest);
  });

  it('names imports as containerd 1.7.13 does: --base-name, --digests, --skip-digest-for-named', async () => {
    // berthd's export names the image in full; umoci's layout names it by a bare tag.
    const full = join(dir.path, 'berthd-export.tar');
    const bare = join(dir.path, 'umoci-layout.tar');
    execFileSync('tar', ['-C', busybox.layout, '-cf', bare, '.']);
    const ref = busybox.pushed.ref;
    const repo = ref.slice(0, ref.lastIndexOf(':'));
    const cases: string[][] = [
      [],
      ['--base-name', 'other.example/x'],
      ['--base-name', repo],
      ['--base-name', 'other.example/x', '--digests'],
      ['--base-name', repo, '--digests', '--skip-digest-for-named'],
      ['--digests'],
      ['--digests', '--skip-digest-for-named'],
    ];
    const got = new Map<string, Map<string, string>>();
    let n = 0;
    for (const archive of [full, bare]) {
      for (const args of cases) {
        const ns = `naming-${n++}`;
        const what = `${archive === full ? 'full name' : 'bare tag'} ${args.join(' ')}`;
        const run = ['images', 'import', '--local=false', '--no-unpack', ...args, archive];
        await ctr17Ok(d.socket, run, ns);
        await ctr17Ok(c17.socket, run, ns);
        const ours = await images(d.socket, ns);
        assert.deepEqual(
          [...ours].sort(),
          [...(await images(c17.socket, ns))].sort(),
          `berthd names as containerd 1.7.13: ${what}`,
        );
        got.set(what, ours);
      }
    }
    const digest = busybox.pushed.digest;
    // A full name outside --base-name is dropped; --digests names the image by digest instead.
    assert.deepEqual([...got.get('full name --base-name other.example/x')!], []);
    assert.deepEqual(
      [...got.get('full name --base-name other.example/x --digests')!],
      [[`other.example/x@${digest}`, digest]],
    );
    assert.deepEqual([...got.get(`full name --base-name ${repo}`)!], [[ref, digest]]);
    // --digests adds the digest name only where no name was found, unless --skip-digest-for-named.
    assert.deepEqual([...got.get('full name --digests')!], [[ref, digest]]);
    assert.equal(got.get('full name --digests --skip-digest-for-named')!.size, 2);
    assert.equal(got.get(`bare tag --base-name ${repo}`)!.get(`${repo}:${busybox.tag}`), digest);
  });

  it('containerd 1.7.13 cannot pull from the plain-HTTP registry through Transfer; berthd can', async () => {
    const r = await ctr17(c17.socket, ['images', 'pull', '--local=false', busybox.pushed.ref]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /server gave HTTP response to HTTPS client/, r.stderr);
    assert.equal((await images(d.socket)).get(busybox.pushed.ref), busybox.pushed.digest);
  });

  it('a pull of a missing tag fails NotFound naming the reference', async () => {
    const missing = `${reg.host}/berth/busybox:no-such-tag`;
    const r = await ctr17(d.socket, ['images', 'pull', '--local=false', missing], 'missing');
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /NotFound|not found/, r.stderr);
    assert.ok(r.stderr.includes(missing) || r.stderr.includes('no-such-tag'), r.stderr);
    assert.deepEqual([...(await images(d.socket, 'missing')).keys()], []);
  });

  it('an import of a corrupt archive fails and leaves nothing behind', async () => {
    const ns = 'corrupt';
    const good = join(dir.path, 'berthd-export.tar');
    const truncated = join(dir.path, 'truncated.tar');
    writeFileSync(truncated, readFileSync(good));
    truncateSync(truncated, Math.floor(statSync(good).size / 2));
    const garbage = join(dir.path, 'garbage.tar');
    writeFileSync(garbage, Buffer.alloc(100_000, 0x5a));
    for (const bad of [truncated, garbage]) {
      const r = await ctr17(d.socket, ['images', 'import', '--local=false', bad], ns);
      assert.notEqual(r.code, 0, `${bad} is refused:\n${r.stdout}${r.stderr}`);
    }
    assert.deepEqual([...(await images(d.socket, ns)).keys()], []);
    // What the failed imports wrote is garbage once ctr's lease is gone.
    const deadline = Date.now() + 10_000;
    let left = await contentDigests(d.socket, ns);
    while (left.length > 0 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 200));
      left = await contentDigests(d.socket, ns);
    }
    assert.deepEqual(left, [], 'no blobs left in the namespace');
    assert.deepEqual(table(await ctrOk(d.socket, ['snapshots', 'ls'], ns)).slice(1), []);
  });
});

describe('stopping with transfer streams open', { skip }, () => {
  let dir: TempDir;
  let dir17: TempDir;
  let d: Berthd | undefined;
  let c17: Containerd | undefined;
  const clients: TransferTestClient[] = [];
  before(() => {
    dir = tempDir();
    dir17 = tempDir();
  });
  after(async () => {
    for (const c of clients) c.close();
    await d?.cleanup();
    await c17?.stop();
    dir?.remove();
    dir17?.remove();
  });

  it('ends a stream no transfer uses at once; an import in flight completes before berthd exits', async () => {
    const built = await buildImage(join(dir.path, 'build'), busyboxImage());
    const archive = join(dir.path, 'layout.tar');
    execFileSync('tar', ['-C', built.layout, '-cf', archive, '.']);
    const data = readFileSync(archive);

    d = await Berthd.start();
    const client = new TransferTestClient(d.socket);
    clients.push(client);
    const idle = await client.createStream('idle');
    const input = await client.createStream('import-1');
    let reached!: () => void;
    const halfway = new Promise<void>((r) => {
      reached = r;
    });
    let resume!: () => void;
    const resumed = new Promise<void>((r) => {
      resume = r;
    });
    const sending = sendStream(input, data, {
      pauseAt: Math.floor(data.length / 2),
      paused: () => {
        reached();
        return resumed;
      },
    });
    const transfer = client.transfer({
      source: { kind: 'importStream', stream: 'import-1', mediaType: '', forceCompress: false },
      destination: {
        kind: 'imageStore',
        name: '',
        labels: {},
        platforms: [PLATFORM],
        allMetadata: false,
        manifestLimit: 0,
        extraReferences: [
          {
            name: 'berth.test/stopping',
            isPrefix: true,
            allowOverwrite: false,
            addDigest: false,
            skipNamedDigest: false,
          },
        ],
        unpacks: [],
      },
      progressStream: '',
    });
    await halfway;

    const t0 = performance.now();
    const exited = d.stop();
    const idleErr = await idle.done;
    const idleMs = performance.now() - t0;
    assert.match(String(idleErr), /UNAVAILABLE|unavailable|shutting down/i, String(idleErr));
    assert.ok(idleMs < 3_000, `the unused stream ended after ${Math.round(idleMs)} ms`);
    assert.ok(d.running, 'berthd waits for the import in flight');
    resume();
    await sending;
    await transfer;
    assert.equal(await exited, 0);
    const stopMs = performance.now() - t0;
    assert.ok(stopMs < 8_000, `berthd stopped in ${Math.round(stopMs)} ms, not after the grace`);

    // containerd 1.7.13 stops at once with an unused stream open, too.
    c17 = await Containerd.start(dir17, { binDir: CONTAINERD17_BIN });
    const client17 = new TransferTestClient(c17.socket);
    clients.push(client17);
    const idle17 = await client17.createStream('idle');
    const t1 = performance.now();
    await c17.stop();
    assert.ok(performance.now() - t1 < 5_000, 'containerd 1.7.13 stopped within 5 s');
    assert.notEqual(await idle17.done, undefined, 'its stream ended with an error');
  });
});
