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
 *
 * Where the images differ from the real ones: busybox's `nc` is a wrapper
 * that ends on SIGTERM as the busybox image's does (see NC), and
 * k8s.gcr.io/pause:3.6 is a small image of its own. For berthd, `containerd
 * oci-hook` (a prestart-hook helper of containerd's command line that
 * TestContainerHook runs) stays containerd's. `--berthd` runs another berthd
 * launcher (a script that execs node on an older build, for a before/after).
 */
import { spawn } from 'node:child_process';
import {
  closeSync,
  cpSync,
  existsSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  rmdirSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { removeTree } from '../src/sys/remove-tree.js';
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

const CONTAINERD = '/usr/bin/containerd';

const USAGE = `usage: scripts/containerd-integration.sh <containerd-src> [--daemon berthd|containerd|both] [--berthd <launcher>] [--run <regexp>] [--out <dir>]`;

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
  { name: 'k8s.gcr.io/pause:3.6', local: 'pause:3.6', spec: pause },
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
    // Mount points a read-only rootfs must already have, as busybox's image does.
    { type: 'dir', path: 'proc', mode: 0o555 },
    { type: 'dir', path: 'sys', mode: 0o555 },
    { type: 'dir', path: 'dev' },
    { type: 'dir', path: 'run' },
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
  const bb = busyboxLayer(appletList.filter((a) => a !== 'nc'));
  if (!('entries' in bb)) throw new Error('busyboxLayer gave no entries');
  const nc: Entry = { type: 'file', path: 'bin/nc', content: NC, mode: 0o755 };
  return {
    index: true,
    layers: [{ createdBy: 'busybox', entries: [...bb.entries, nc, ...baseEntries()] }],
    config: { cmd: ['sh'], env: [DEFAULT_PATH] },
  };
}

/**
 * busybox-static's `nc` (without NC_110_COMPAT) sets no SIGTERM handler, so
 * as a container's PID 1 it ignores the SIGTERM TestBindLowPortNonOpt sends;
 * the busybox image's nc ends on it. This nc runs busybox's in the
 * background and ends with 143 on SIGTERM, or with its status.
 */
const NC = `#!/bin/sh
trap 'kill -TERM $pid 2>/dev/null; wait $pid; exit 143' TERM
/bin/busybox nc "$@" &
pid=$!
wait $pid
`;

/** A small image of its own (the tests check it is not unpacked, then unpack and delete it). */
function pause(): ImageSpec {
  return {
    index: true,
    layers: [
      {
        createdBy: 'pause',
        entries: [
          { type: 'file', path: 'pause', content: 'not a real pause binary\n', mode: 0o755 },
        ],
      },
    ],
    config: { entrypoint: ['/pause'] },
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

/** Where containerd's runc shims keep runc's state, whatever the daemon's paths. */
const CONTAINERD_RUNC_ROOT = '/run/containerd/runc';

function entriesOf(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

/** The tests' fixed state directory (client_unix_test.go's defaultState). */
const TEST_STATE = '/run/containerd-test';

/**
 * Empties the tests' state directory between daemons, so one daemon never
 * finds the other's runtime state; refuses when a task bundle or a mount is
 * left there (a test left a container: clean it up by hand).
 */
function clearTestState(): void {
  if (!existsSync(TEST_STATE)) return;
  const mounts = readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[4] ?? '')
    .filter((m) => m === TEST_STATE || m.startsWith(`${TEST_STATE}/`));
  const tasks = join(TEST_STATE, 'io.containerd.runtime.v2.task');
  const bundles = existsSync(tasks)
    ? readdirSync(tasks).flatMap((ns) => readdirSync(join(tasks, ns)).map((id) => `${ns}/${id}`))
    : [];
  if (mounts.length > 0 || bundles.length > 0) {
    throw new Error(
      `${TEST_STATE} still holds ${[...bundles.map((b) => `bundle ${b}`), ...mounts].join(', ')}; clean it up first`,
    );
  }
  for (const e of readdirSync(TEST_STATE)) removeTree(join(TEST_STATE, e), TEST_STATE);
}

interface Outcome {
  pass: string[];
  fail: string[];
  skip: string[];
}

async function runSuite(
  bin: string,
  daemon: 'berthd' | 'containerd',
  berthd: string,
  tests: string[],
  work: string,
  out: string,
): Promise<Outcome> {
  clearTestState();
  const runcBefore = new Set(entriesOf(CONTAINERD_RUNC_ROOT));
  const pathDir = join(work, `path-${daemon}`);
  mkdirSync(pathDir, { recursive: true });
  const link = join(pathDir, 'containerd');
  if (daemon === 'containerd') {
    if (!existsSync(link)) symlinkSync(CONTAINERD, link);
  } else {
    // `containerd oci-hook` (TestContainerHook's prestart hook) is a helper
    // of containerd's command line, not of its API: it stays containerd's.
    writeFileSync(
      link,
      `#!/bin/sh\nif [ "$1" = oci-hook ]; then exec ${CONTAINERD} "$@"; fi\nexec ${berthd} "$@"\n`,
      { mode: 0o755 },
    );
  }
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
  // The log is written as the tests run, so a run can be watched (tail -f).
  const fd = openSync(log, 'w');
  try {
    await new Promise<void>((res, rej) => {
      const p = spawn(bin, args, {
        cwd: work,
        env: { ...process.env, PATH: `${pathDir}:${process.env.PATH ?? ''}` },
        stdio: ['ignore', fd, fd],
      });
      p.once('error', rej);
      p.once('exit', () => res());
    });
  } finally {
    closeSync(fd);
  }
  // containerd's shims keep runc state in /run/containerd/runc/<namespace>:
  // the empty namespace directories the run made go (rmdir only).
  for (const ns of entriesOf(CONTAINERD_RUNC_ROOT)) {
    if (runcBefore.has(ns)) continue;
    try {
      rmdirSync(join(CONTAINERD_RUNC_ROOT, ns));
    } catch {
      // not empty: left for a look
    }
  }
  const text = readFileSync(log, 'utf8');
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
      berthd: { type: 'string', default: BERTHD },
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
      const r = await runSuite(
        bin,
        d as 'berthd' | 'containerd',
        resolve(values.berthd),
        tests,
        work.path,
        out,
      );
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
    try {
      clearTestState();
    } catch (err) {
      process.stderr.write(`${(err as Error).message}\n`);
    }
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
