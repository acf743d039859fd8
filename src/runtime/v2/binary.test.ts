import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { DeleteResponse } from '../../api/containerd/task/v2/shim.js';
import { isInternal, isInvalidArgument, isNotFound, kindOf } from '../../core/errdefs/index.js';
import {
  deleteShim,
  parseShimAddress,
  resolveShimBinary,
  type ShimBinaryConfig,
  startGroupDaemon,
  startShim,
} from './binary.js';

const dir = mkdtempSync(join(tmpdir(), 'berth-shim-binary-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** A stand-in shim: a shell script that records how it was called. */
function fakeShim(name: string, body: string): string {
  const path = join(dir, name);
  writeFileSync(path, `#!/bin/sh\n${body}\n`);
  chmodSync(path, 0o755);
  return path;
}

const cfg = (over: Partial<ShimBinaryConfig> = {}): ShimBinaryConfig => ({
  address: '/run/berth/berth.sock',
  ttrpcAddress: '/run/berth/berth.sock.ttrpc',
  publishBinary: '/usr/bin/berthd',
  paths: {},
  debug: false,
  timeoutMs: 5000,
  ...over,
});

describe('resolveShimBinary', () => {
  it('maps io.containerd.<name>.<version> to containerd-shim-<name>-<version> on PATH', () => {
    const bin = join(dir, 'bin');
    mkdirSync(bin, { recursive: true });
    writeFileSync(join(bin, 'containerd-shim-fake-v9'), '#!/bin/sh\n');
    chmodSync(join(bin, 'containerd-shim-fake-v9'), 0o755);
    const saved = process.env.PATH;
    process.env.PATH = `/nonexistent:${bin}`;
    try {
      assert.equal(
        resolveShimBinary('io.containerd.fake.v9', cfg()),
        join(bin, 'containerd-shim-fake-v9'),
      );
    } finally {
      process.env.PATH = saved;
    }
  });

  it("looks in searchDirs (berthd's bin/) after PATH", () => {
    const first = join(dir, 'path-bin');
    const own = join(dir, 'own-bin');
    for (const d of [first, own]) mkdirSync(d, { recursive: true });
    writeFileSync(join(own, 'containerd-shim-own-v1'), '#!/bin/sh\n');
    chmodSync(join(own, 'containerd-shim-own-v1'), 0o755);
    const saved = process.env.PATH;
    process.env.PATH = first;
    try {
      assert.throws(() => resolveShimBinary('io.containerd.own.v1', cfg()), isNotFound);
      assert.equal(
        resolveShimBinary('io.containerd.own.v1', cfg({ searchDirs: [own] })),
        join(own, 'containerd-shim-own-v1'),
      );
      // PATH wins over berthd's own directory.
      writeFileSync(join(first, 'containerd-shim-own-v1'), '#!/bin/sh\n');
      chmodSync(join(first, 'containerd-shim-own-v1'), 0o755);
      assert.equal(
        resolveShimBinary('io.containerd.own.v1', cfg({ searchDirs: [own] })),
        join(first, 'containerd-shim-own-v1'),
      );
    } finally {
      process.env.PATH = saved;
    }
  });

  it('takes an absolute path as is, and a configured path first', () => {
    const shim = fakeShim('abs-shim', 'exit 0');
    assert.equal(resolveShimBinary(shim, cfg()), shim);
    assert.equal(
      resolveShimBinary('io.containerd.runc.v2', cfg({ paths: { 'io.containerd.runc.v2': shim } })),
      shim,
    );
  });

  it('refuses what cannot name a shim', () => {
    assert.throws(() => resolveShimBinary('', cfg()), isInvalidArgument);
    assert.throws(() => resolveShimBinary('runc', cfg()), isInvalidArgument);
    assert.throws(() => resolveShimBinary('io.containerd.nope.v7', cfg()), isNotFound);
    const notExec = join(dir, 'not-exec');
    writeFileSync(notExec, '');
    assert.throws(() => resolveShimBinary(notExec, cfg()), isNotFound);
  });
});

describe('parseShimAddress', () => {
  it('reads a plain address line and the 1.7+ JSON bootstrap', () => {
    assert.equal(
      parseShimAddress('unix:///run/containerd/s/abc\n'),
      'unix:///run/containerd/s/abc',
    );
    assert.equal(
      parseShimAddress('{"version":2,"address":"unix:///x/y","protocol":"ttrpc"}'),
      'unix:///x/y',
    );
  });

  it('refuses a grpc shim, an empty answer and garbage', () => {
    assert.throws(
      () => parseShimAddress('{"version":3,"address":"unix:///a","protocol":"grpc"}'),
      isInvalidArgument,
    );
    assert.throws(() => parseShimAddress(''), isInternal);
    assert.throws(() => parseShimAddress('{"version":'), isInternal);
  });
});

describe('startShim and deleteShim', () => {
  it('start: argv, environment, options on stdin, cwd = bundle, address from stdout', async () => {
    const bundle = join(dir, 'bundle-start');
    mkdirSync(bundle);
    const shim = fakeShim(
      'start-shim',
      `echo "$@" > args; env > env; cat > stdin; pwd > cwd; echo unix:///run/test/s/123`,
    );
    const address = await startShim(
      cfg(),
      { binary: shim, namespace: 'ns1', id: 'c1', bundle },
      { typeUrl: 'containerd.runc.v1.Options', value: Buffer.from([0x3a, 0x01, 0x2f]) },
    );
    assert.equal(address, 'unix:///run/test/s/123');
    const read = (f: string) => readFileSync(join(bundle, f), 'utf8');
    assert.equal(
      read('args').trim(),
      '-namespace ns1 -address /run/berth/berth.sock -publish-binary /usr/bin/berthd -id c1 start',
    );
    assert.match(read('env'), /^TTRPC_ADDRESS=\/run\/berth\/berth\.sock\.ttrpc$/m);
    assert.match(read('env'), /^GOMAXPROCS=2$/m);
    assert.equal(read('cwd').trim(), bundle);
    // A marshalled Any: field 1 (type URL), field 2 (value).
    const stdin = Buffer.from(read('stdin'), 'latin1');
    assert.equal(stdin[0], 0x0a);
    assert.ok(stdin.includes(Buffer.from('containerd.runc.v1.Options')));
  });

  it('start: a failing shim is an error carrying its output', async () => {
    const bundle = join(dir, 'bundle-fail');
    mkdirSync(bundle);
    const shim = fakeShim('failing-shim', 'echo "cannot do it" >&2; exit 3');
    await assert.rejects(
      startShim(cfg(), { binary: shim, namespace: 'ns', id: 'c', bundle }, undefined),
      (err: Error) => kindOf(err) === 'internal' && /exit status 3: cannot do it/.test(err.message),
    );
  });

  it('start: a shim that hangs is killed after the timeout', async () => {
    const bundle = join(dir, 'bundle-hang');
    mkdirSync(bundle);
    const shim = fakeShim('hanging-shim', 'exec sleep 30');
    await assert.rejects(
      startShim(
        cfg({ timeoutMs: 300 }),
        { binary: shim, namespace: 'ns', id: 'c', bundle },
        undefined,
      ),
      (err: Error) => kindOf(err) === 'deadline_exceeded',
    );
  });

  it('delete: argv and the DeleteResponse the shim writes', async () => {
    const bundle = join(dir, 'bundle-delete');
    mkdirSync(bundle);
    const resp = Buffer.from(
      DeleteResponse.encode({
        pid: 42,
        exitStatus: 137,
        exitedAt: { seconds: 5n, nanos: 6 },
      }).finish(),
    );
    writeFileSync(join(dir, 'delete-response'), resp);
    const shim = fakeShim('delete-shim', `echo "$@" > args; cat ${join(dir, 'delete-response')}`);
    const exit = await deleteShim(cfg(), { binary: shim, namespace: 'ns2', id: 'c2', bundle });
    assert.deepEqual(exit, { pid: 42, status: 137, exitedAt: 5_000_000_006n });
    const args = readFileSync(join(bundle, 'args'), 'utf8').trim();
    assert.equal(
      args,
      `-namespace ns2 -address /run/berth/berth.sock -publish-binary /usr/bin/berthd -id c2 -bundle ${bundle} delete`,
    );
  });
});

describe('startGroupDaemon (berth shim: the daemon without `start`)', () => {
  it("runs the daemon with the protocol's flags, fd 3 its ready pipe, stderr the log; writes address and shim.pid", async () => {
    const bundle = join(dir, 'group-bundle');
    mkdirSync(bundle, { recursive: true });
    writeFileSync(join(bundle, 'log'), '');
    const daemon = fakeShim(
      'fake-group-daemon',
      `echo "args: $*" >&2; echo "cwd: $(pwd) ns: $NAMESPACE" >&2; echo ok >&3; exec 3>&-; exec sleep 30`,
    );
    const inv = { binary: daemon, namespace: 'ns1', id: 'c1', bundle };
    const pid = await startGroupDaemon(cfg(), inv, 'unix:///run/containerd/s/abc');
    try {
      assert.ok(pid > 0);
      assert.equal(readFileSync(join(bundle, 'shim.pid'), 'utf8'), String(pid));
      assert.equal(readFileSync(join(bundle, 'address'), 'utf8'), 'unix:///run/containerd/s/abc');
      const log = readFileSync(join(bundle, 'log'), 'utf8');
      assert.match(
        log,
        /args: -namespace ns1 -id c1 -address \/run\/berth\/berth.sock -publish-binary \/usr\/bin\/berthd -socket unix:\/\/\/run\/containerd\/s\/abc/,
      );
      assert.match(log, /cwd: \/ ns: ns1/);
      // The fake signals ready before it execs sleep: give the exec a moment.
      const deadline = Date.now() + 5000;
      while (!readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('sleep')) {
        assert.ok(Date.now() < deadline, 'the daemon runs');
        await new Promise((r) => setTimeout(r, 10));
      }
    } finally {
      process.kill(pid, 'SIGKILL');
    }
  });

  it('a daemon that fails before listening is an error with its answer', async () => {
    const bundle = join(dir, 'group-bundle-2');
    mkdirSync(bundle, { recursive: true });
    const daemon = fakeShim('fake-group-daemon-2', 'echo "no -socket to serve on" >&3');
    await assert.rejects(
      startGroupDaemon(cfg(), { binary: daemon, namespace: 'ns1', id: 'c2', bundle }, 'unix:///x'),
      (err) => isInternal(err) && /no -socket to serve on/.test((err as Error).message),
    );
  });
});
