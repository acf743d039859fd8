/**
 * Runs containerd 1.6's own client integration tests (`integration/client`)
 * against berthd and/or containerd, offline. Run by hand (CI cannot fetch
 * containerd's source); see scripts/containerd-integration.sh for usage.
 *
 * What it does:
 * 1. starts Debian's docker-registry on 127.0.0.1 and pushes the images the
 *    tests pull, built from busybox-static (test/helpers/images.ts);
 * 2. copies the source tree, makes integration/client part of the root
 *    module (so containerd's vendor/ serves every import), points the image
 *    names at the local registry, and builds the test binary with
 *    `go test -c` (GOFLAGS=-mod=vendor, GOPROXY=off);
 * 3. for each daemon, puts a `containerd` on PATH that is that daemon (the
 *    tests' TestMain starts "containerd" with --root /var/lib/containerd-test
 *    --state /run/containerd-test and restarts it in some tests), runs every
 *    test that can run here, and counts PASS/FAIL/SKIP per top-level test.
 *
 * Not run: checkpoint tests (no CRIU here), and tests that need images or
 * registries this harness does not imitate (schema 1 images, several
 * platforms, registry.k8s.io source labels).
 */
import { spawn } from 'node:child_process';
import {
  cpSync,
  existsSync,
  mkdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { BERTHD } from '../test/helpers/berthd.js';
import {
  BUSYBOX,
  buildAndPush,
  busyboxLayer,
  DEFAULT_PATH,
  type Entry,
  type ImageSpec,
} from '../test/helpers/images.js';
import { Registry } from '../test/helpers/registry.js';
import { tempDir } from '../test/helpers/tmp.js';

const USAGE = `usage: scripts/containerd-integration.sh <containerd-src> [--daemon berthd|containerd|both] [--run <regexp>] [--out <dir>]`;

/** Tests that cannot run here, and why. */
const EXCLUDED: Record<string, string> = {
  TestCheckpointRestorePTY: 'needs CRIU',
  TestCheckpointRestore: 'needs CRIU',
  TestCheckpointRestoreNewContainer: 'needs CRIU',
  TestCheckpointLeaveRunning: 'needs CRIU',
  TestCheckpointRestoreWithImagePath: 'needs CRIU',
  TestCheckpointOnPauseStatus: 'needs CRIU',
  TestImagePullAllPlatforms: 'needs a multi-platform index with every platform',
  TestImagePullSomePlatforms: 'needs a multi-platform index (registry.k8s.io)',
  TestImagePullSchema1: 'needs a schema 1 image',
  TestImagePullSchema1WithEmptyLayers: 'needs a schema 1 image',
  TestImageUsage: 'needs a multi-platform index',
  TestImagePullWithDistSourceLabel: 'checks a registry.k8s.io source label',
  TestImageSupportedBySnapshotter_Error: 'needs a foreign-platform image from registry.k8s.io',
};

/** Image names in the tests' source → the local repository that replaces them. */
const IMAGES: { name: string; local: string; spec: () => ImageSpec }[] = [
  { name: 'ghcr.io/containerd/busybox:1.32', local: 'containerd/busybox:1.32', spec: busybox },
  {
    name: 'ghcr.io/containerd/volume-copy-up:2.1',
    local: 'containerd/volume-copy-up:2.1',
    spec: multiLayer,
  },
  { name: 'ghcr.io/containerd/alpine:3.14.0', local: 'containerd/alpine:3.14.0', spec: busybox },
  { name: 'k8s.gcr.io/pause:3.6', local: 'pause:3.6', spec: busybox },
];

const PASSWD = `root:x:0:0:root:/root:/bin/sh
daemon:x:1:1:daemon:/usr/sbin:/bin/false
bin:x:2:2:bin:/bin:/bin/false
sys:x:3:3:sys:/dev:/bin/false
sync:x:4:100:sync:/bin:/bin/sync
mail:x:8:8:mail:/var/spool/mail:/bin/false
www-data:x:33:33:www-data:/var/www:/bin/false
operator:x:37:37:Operator:/var:/bin/false
nobody:x:65534:65534:nobody:/home:/bin/false
`;
const GROUP = `root:x:0:
daemon:x:1:
bin:x:2:
sys:x:3:
adm:x:4:
tty:x:5:
disk:x:6:
mail:x:8:
www-data:x:33:
users:x:100:
nogroup:x:65534:
`;

/** Every applet of the host's busybox-static, /etc/passwd and /etc/group as busybox's image has them. */
function baseEntries(): Entry[] {
  return [
    { type: 'file', path: 'etc/passwd', content: PASSWD },
    { type: 'file', path: 'etc/group', content: GROUP },
    { type: 'dir', path: 'tmp', mode: 0o1777 },
    { type: 'dir', path: 'root', mode: 0o700 },
    { type: 'dir', path: 'var/www' },
  ];
}

async function applets(): Promise<string[]> {
  const out = await capture(BUSYBOX, ['--list']);
  return out.split('\n').filter((a) => a !== '' && a !== 'busybox');
}

let appletList: string[] = [];

function busybox(): ImageSpec {
  const bb = busyboxLayer(appletList);
  if (!('entries' in bb)) throw new Error('busyboxLayer gave no entries');
  return {
    index: true,
    layers: [{ createdBy: 'busybox', entries: [...bb.entries, ...baseEntries()] }],
    config: { cmd: ['sh'], env: [DEFAULT_PATH] },
  };
}

function multiLayer(): ImageSpec {
  const base = busybox();
  return {
    ...base,
    layers: [
      ...base.layers,
      {
        createdBy: 'files',
        entries: [
          { type: 'file', path: 'foo/a.txt', content: 'a\n' },
          { type: 'file', path: 'foo/b.txt', content: 'b\n' },
        ],
      },
      {
        createdBy: 'whiteout',
        entries: [{ type: 'whiteout', path: 'foo/a.txt' }],
      },
    ],
  };
}

function run(cmd: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}) {
  return new Promise<void>((res, rej) => {
    const p = spawn(cmd, args, { stdio: 'inherit', ...opts });
    p.once('error', rej);
    p.once('exit', (code, sig) =>
      code === 0 ? res() : rej(new Error(`${cmd} ${args.join(' ')}: ${sig ?? `exit ${code}`}`)),
    );
  });
}

function capture(cmd: string, args: string[]): Promise<string> {
  return new Promise((res, rej) => {
    const p = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    p.stdout.on('data', (b: Buffer) => {
      out += b.toString();
    });
    p.once('error', rej);
    p.once('exit', (code) => (code === 0 ? res(out) : rej(new Error(`${cmd}: exit ${code}`))));
  });
}

/** Copies the source, folds integration/client into the root module, rewrites image names, builds. */
async function buildTests(src: string, work: string, host: string): Promise<string> {
  const tree = join(work, 'containerd');
  cpSync(src, tree, { recursive: true });
  const dir = join(tree, 'integration/client');
  rmSync(join(dir, 'go.mod'));
  rmSync(join(dir, 'go.sum'));
  for (const file of [
    'client_unix_test.go',
    'container_linux_test.go',
    'image_test.go',
    'lease_test.go',
  ]) {
    const path = join(dir, file);
    let text = readFileSync(path, 'utf8');
    for (const img of IMAGES) text = text.replaceAll(`"${img.name}"`, `"${host}/${img.local}"`);
    writeFileSync(path, text);
  }
  const bin = join(work, 'client.test');
  await run('go', ['test', '-c', '-o', bin, './integration/client'], {
    cwd: tree,
    env: { ...process.env, GOFLAGS: '-mod=vendor', GOPROXY: 'off', GOTOOLCHAIN: 'local' },
  });
  return bin;
}

interface Outcome {
  pass: string[];
  fail: string[];
  skip: string[];
}

async function runSuite(
  bin: string,
  daemon: 'berthd' | 'containerd',
  tests: string[],
  work: string,
  out: string,
): Promise<Outcome> {
  const pathDir = join(work, `path-${daemon}`);
  mkdirSync(pathDir, { recursive: true });
  const target = daemon === 'berthd' ? BERTHD : '/usr/bin/containerd';
  const link = join(pathDir, 'containerd');
  if (!existsSync(link)) symlinkSync(target, link);
  const log = join(out, `${daemon}.log`);
  const args = [
    '-test.root',
    '-test.v',
    '-no-criu',
    '-test.timeout',
    '40m',
    '-test.run',
    `^(${tests.join('|')})$`,
  ];
  process.stderr.write(`running ${tests.length} tests against ${daemon} (log: ${log})\n`);
  const text = await new Promise<string>((res, rej) => {
    const p = spawn(bin, args, {
      cwd: work,
      env: { ...process.env, PATH: `${pathDir}:${process.env.PATH ?? ''}` },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let all = '';
    const keep = (b: Buffer) => {
      all += b.toString();
    };
    p.stdout.on('data', keep);
    p.stderr.on('data', keep);
    p.once('error', rej);
    p.once('exit', () => res(all));
  });
  writeFileSync(log, text);
  const outcome: Outcome = { pass: [], fail: [], skip: [] };
  for (const m of text.matchAll(/^--- (PASS|FAIL|SKIP): (Test\w+)/gm)) {
    const kind = m[1] === 'PASS' ? 'pass' : m[1] === 'FAIL' ? 'fail' : 'skip';
    outcome[kind].push(m[2] as string);
  }
  const seen = new Set([...outcome.pass, ...outcome.fail, ...outcome.skip]);
  for (const t of tests) if (!seen.has(t)) outcome.fail.push(`${t} (no result: suite aborted?)`);
  return outcome;
}

async function main(): Promise<number> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      daemon: { type: 'string', default: 'both' },
      run: { type: 'string' },
      out: { type: 'string' },
    },
  });
  const src = positionals[0];
  if (positionals.length !== 1 || src === undefined) {
    process.stderr.write(`${USAGE}\n`);
    return 2;
  }
  if (
    !existsSync(join(src, 'integration/client/client_test.go')) ||
    !existsSync(join(src, 'vendor'))
  ) {
    process.stderr.write(`${src}: not a containerd 1.6 source tree with vendor/\n`);
    return 2;
  }
  const daemons = values.daemon === 'both' ? (['containerd', 'berthd'] as const) : [values.daemon];
  for (const d of daemons) {
    if (d !== 'berthd' && d !== 'containerd') {
      process.stderr.write(`--daemon ${d}: expected berthd, containerd or both\n`);
      return 2;
    }
  }
  const work = tempDir('berth-ctd-integration-');
  const out = resolve(values.out ?? join(work.path, 'out'));
  mkdirSync(out, { recursive: true });
  const registry = await Registry.start(work);
  try {
    appletList = await applets();
    for (const img of IMAGES) {
      await buildAndPush(work, registry, img.spec(), img.local);
    }
    const bin = await buildTests(resolve(src), work.path, registry.host);
    const listed = (await capture(bin, ['-test.short', '-test.list', '^Test']))
      .split('\n')
      .filter((t) => t.startsWith('Test'));
    const filter = values.run === undefined ? undefined : new RegExp(values.run);
    const tests = listed.filter(
      (t) => !(t in EXCLUDED) && (filter === undefined || filter.test(t)),
    );
    process.stderr.write(
      `${listed.length} tests, ${tests.length} to run; not run: ${Object.keys(EXCLUDED).length} (${[
        ...new Set(Object.values(EXCLUDED)),
      ].join('; ')})\n`,
    );
    const summary: string[] = [];
    for (const d of daemons) {
      const r = await runSuite(bin, d as 'berthd' | 'containerd', tests, work.path, out);
      summary.push(
        `${d}: ${r.pass.length} passed of ${tests.length} (${r.fail.length} failed, ${r.skip.length} skipped)`,
      );
      if (r.fail.length > 0) summary.push(`  failed: ${r.fail.join(' ')}`);
      if (r.skip.length > 0) summary.push(`  skipped: ${r.skip.join(' ')}`);
    }
    const text = `${summary.join('\n')}\n`;
    writeFileSync(join(out, 'summary.txt'), text);
    process.stdout.write(text);
    process.stdout.write(`logs in ${out}\n`);
    return 0;
  } finally {
    await registry.stop();
    if (values.out === undefined) {
      process.stderr.write(`(work dir ${work.path} kept for its logs)\n`);
    } else {
      work.remove();
    }
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(
      `containerd-integration: ${err instanceof Error ? err.stack : String(err)}\n`,
    );
    process.exit(1);
  },
);
