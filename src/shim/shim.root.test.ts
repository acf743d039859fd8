import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import {
  closeSync,
  createReadStream,
  existsSync,
  mkdirSync,
  open,
  readFileSync,
  rmSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type TempDir, tempDir } from '../../test/helpers/tmp.js';
import { TaskExit } from '../api/containerd/events/task.js';
import { Options, ProcessDetails } from '../api/containerd/runc/options/oci.js';
import { ForwardRequest } from '../api/containerd/services/ttrpc/events/v1/events.js';
import {
  CloseIORequest,
  ConnectResponse,
  CreateTaskRequest,
  CreateTaskResponse,
  DeleteRequest,
  DeleteResponse,
  ExecProcessRequest,
  KillRequest,
  PauseRequest,
  PidsRequest,
  PidsResponse,
  ShutdownRequest,
  StartRequest,
  StartResponse,
  StateRequest,
  StateResponse,
  WaitRequest,
  WaitResponse,
} from '../api/containerd/task/v2/shim.js';
import { Status } from '../api/containerd/types/task/task.js';
import { Any } from '../api/google/protobuf/any.js';
import { Empty } from '../api/google/protobuf/empty.js';
import { isAlreadyExists, isFailedPrecondition, isNotFound } from '../core/errdefs/predicates.js';
import { nullLogger } from '../core/log/index.js';
import { unmountAll } from '../sys/mount.js';
import { TtrpcClient } from '../ttrpc/client.js';
import { TtrpcServer } from '../ttrpc/server.js';

/**
 * The shim as containerd runs it, against real runc: `start` (daemon
 * spawned, address printed, the group's second container reusing it), then
 * the task API over its socket: create/start/exec/wait/kill/delete with FIFO
 * stdio, exit statuses (128+signal), the errors' kinds, events in order,
 * Shutdown that exits only once no container is left. Root only.
 */

const MAIN = join(import.meta.dirname, 'main.ts');
const NS = 'berth-shim-test';
const skip =
  process.getuid?.() !== 0 || !existsSync('/bin/busybox') || !existsSync('/usr/sbin/runc')
    ? 'needs root, runc and busybox'
    : false;

describe('containerd-shim-berth-v1 with runc', { skip }, () => {
  let tmp: TempDir;
  let dir: string;
  let rootfs: string;
  let events: TtrpcServer;
  const received: { topic: string; namespace: string; typeUrl: string; value: Uint8Array }[] = [];
  let client: TtrpcClient;
  let address = '';
  let spec: Record<string, any>;
  const bundles: string[] = [];

  const call = async <T>(
    method: string,
    payload: Uint8Array,
    decode: { decode(b: Uint8Array): T },
  ): Promise<T> =>
    decode.decode(
      await client.call('containerd.task.v2.Task', method, payload, {
        metadata: { 'containerd-namespace-ttrpc': NS },
        timeoutMs: 30_000,
      }),
    );

  const bundle = (id: string, args: string[]): string => {
    const b = join(dir, 'bundles', id);
    mkdirSync(b, { recursive: true });
    const s = structuredClone(spec);
    s.process.args = args;
    s.process.terminal = false;
    s.root = { path: 'rootfs', readonly: false };
    writeFileSync(join(b, 'config.json'), JSON.stringify(s));
    bundles.push(b);
    return b;
  };

  const fifo = (name: string): string => {
    const p = join(dir, name);
    execFileSync('mkfifo', [p]);
    return p;
  };

  /** Everything written to a FIFO until EOF. */
  const readAll = (path: string): Promise<string> =>
    new Promise((resolve, reject) => {
      let text = '';
      createReadStream(path, 'utf8')
        .on('data', (d) => {
          text += d;
        })
        .on('end', () => resolve(text))
        .on('error', reject);
    });

  const runStart = (b: string, id: string): Promise<string> =>
    new Promise((resolve, reject) => {
      const child = spawn(
        process.execPath,
        [
          '--import',
          import.meta.resolve('tsx'),
          MAIN,
          '-namespace',
          NS,
          '-address',
          join(dir, 'containerd.sock'),
          '-id',
          id,
          'start',
        ],
        {
          cwd: b,
          env: { ...process.env, TTRPC_ADDRESS: join(dir, 'events.sock') },
          stdio: ['pipe', 'pipe', 'pipe'],
        },
      );
      let out = '';
      let err = '';
      child.stdout.on('data', (d) => {
        out += d;
      });
      child.stderr.on('data', (d) => {
        err += d;
      });
      child.stdin.end(Any.encode(runcOptions()).finish());
      child.on('close', (code) =>
        code === 0 ? resolve(out) : reject(new Error(`start: ${code}: ${err}`)),
      );
    });

  /** runc's options with the test's runc root; `binaryName` runs another program as runc. */
  const runcOptions = (binaryName?: string) => ({
    typeUrl: 'containerd.runc.v1.Options',
    value: Buffer.from(
      Options.encode(Options.fromPartial({ root: join(dir, 'runc'), binaryName })).finish(),
    ),
  });
  let shimPid = 0;

  const create = async (
    id: string,
    args: string[],
    stdout = '',
    stdin = '',
    stderr = '',
    options = runcOptions(),
  ) => {
    const b = bundle(id, args);
    const addr = await runStart(b, id);
    if (address === '') {
      address = addr;
      client = await TtrpcClient.connect(address);
      shimPid = (await call('Connect', Buffer.from([]), ConnectResponse)).shimPid;
    }
    assert.equal(addr, address, 'one shim for the group');
    assert.equal(readFileSync(join(b, 'address'), 'utf8'), address);
    const r = await call(
      'Create',
      CreateTaskRequest.encode(
        CreateTaskRequest.fromPartial({
          id,
          bundle: b,
          rootfs: [{ type: 'bind', source: rootfs, target: '', options: ['rbind', 'ro'] }],
          stdin,
          stdout,
          stderr,
          options,
        }),
      ).finish(),
      CreateTaskResponse,
    );
    assert.ok(r.pid > 0);
    return r.pid;
  };

  const start = (id: string, execId = '') =>
    call('Start', StartRequest.encode({ id, execId }).finish(), StartResponse);
  const wait = (id: string, execId = '') =>
    call('Wait', WaitRequest.encode({ id, execId }).finish(), WaitResponse);
  const kill = (id: string, signal: number, execId = '', all = false) =>
    call('Kill', KillRequest.encode({ id, execId, signal, all }).finish(), Empty);
  const del = (id: string, execId = '') =>
    call('Delete', DeleteRequest.encode({ id, execId }).finish(), DeleteResponse);
  const state = (id: string, execId = '') =>
    call('State', StateRequest.encode({ id, execId }).finish(), StateResponse);
  const exec = (id: string, execId: string, args: string[], stdout = '') =>
    call(
      'Exec',
      ExecProcessRequest.encode({
        id,
        execId,
        terminal: false,
        stdin: '',
        stdout,
        stderr: '',
        spec: {
          typeUrl: 'types.containerd.io/opencontainers/runtime-spec/1/Process',
          value: Buffer.from(JSON.stringify({ ...spec.process, args, terminal: false })),
        },
      }).finish(),
      Empty,
    );

  before(async () => {
    tmp = tempDir('berth-shim-');
    dir = tmp.path;
    rootfs = join(dir, 'rootfs');
    mkdirSync(join(rootfs, 'bin'), { recursive: true });
    for (const d of ['proc', 'dev', 'sys', 'tmp']) mkdirSync(join(rootfs, d));
    execFileSync('cp', ['/bin/busybox', join(rootfs, 'bin/busybox')]);
    for (const a of ['sh', 'echo', 'sleep', 'cat', 'true']) {
      execFileSync('ln', ['-s', 'busybox', join(rootfs, 'bin', a)]);
    }
    const gen = join(dir, 'gen');
    mkdirSync(gen);
    execFileSync('runc', ['spec', '--bundle', gen]);
    spec = JSON.parse(readFileSync(join(gen, 'config.json'), 'utf8'));
    events = new TtrpcServer({ log: nullLogger });
    events.register('containerd.services.events.ttrpc.v1.Events', 'Forward', async (payload) => {
      const env = ForwardRequest.decode(payload).envelope;
      if (env) {
        received.push({
          topic: env.topic,
          namespace: env.namespace,
          typeUrl: env.event?.typeUrl ?? '',
          value: env.event?.value ?? new Uint8Array(),
        });
      }
      return Empty.encode({}).finish();
    });
    await events.listen(join(dir, 'events.sock'));
  });

  after(async () => {
    client?.close();
    // A failed test may leave the shim serving: it is this test's own daemon.
    if (shimPid > 0 && alive(shimPid)) process.kill(shimPid, 'SIGKILL');
    // The killed shim's socket and lock (this test's own address, keyed by its temp dir).
    if (address) {
      const path = address.replace('unix://', '');
      for (const f of [path, `${path}.lock`]) rmSync(f, { force: true });
    }
    for (const b of bundles) {
      const id = b.split('/').at(-1) as string;
      try {
        execFileSync('runc', ['--root', join(dir, 'runc', NS), 'delete', '--force', id], {
          stdio: 'ignore',
        });
      } catch {}
      try {
        unmountAll(join(b, 'rootfs'));
      } catch {}
    }
    await events?.close();
    tmp?.remove();
  });

  it('runs a container: output through the FIFO, exit status, events in order', async () => {
    const out = fifo('c1-stdout');
    const output = readAll(out);
    const pid = await create('c1', ['sh', '-c', 'echo hello; exit 3'], out);
    const st = await state('c1');
    assert.equal(st.status, Status.CREATED);
    assert.equal(st.stdout, out);
    assert.equal(st.pid, pid);
    const started = await start('c1');
    assert.equal(started.pid, pid);
    const w = await wait('c1');
    assert.equal(w.exitStatus, 3);
    assert.equal(await output, 'hello\n');
    assert.equal((await state('c1')).status, Status.STOPPED);
    await assert.rejects(kill('c1', 9), isNotFound);
    const d = await del('c1');
    assert.equal(d.exitStatus, 3);
    assert.equal(d.pid, pid);
    assert.ok(d.exitedAt && d.exitedAt.seconds > 0n);
    await assert.rejects(state('c1'), isNotFound);
    const mounts = readFileSync('/proc/self/mountinfo', 'utf8');
    assert.ok(!mounts.includes(join(dir, 'bundles', 'c1', 'rootfs')), 'rootfs unmounted');
    await waitUntil(() => received.filter((e) => e.topic === '/tasks/delete').length === 1);
    const topics = received.map((e) => e.topic);
    assert.deepEqual(topics, ['/tasks/create', '/tasks/start', '/tasks/exit', '/tasks/delete']);
    assert.ok(received.every((e) => e.namespace === NS));
    const exit = TaskExit.decode(received[2]?.value as Uint8Array);
    assert.equal(exit.exitStatus, 3);
    assert.equal(exit.pid, pid);
    assert.equal(exit.containerId, 'c1');
  });

  it("a Create of an id right after its Delete waits for runc's delete (run after the answer)", async () => {
    // A runc whose delete is slow (and not the default runc: Start runs `runc start`).
    const slowRunc = join(dir, 'slow-runc');
    writeFileSync(
      slowRunc,
      '#!/bin/sh\nfor a in "$@"; do [ "$a" = delete ] && sleep 0.5; done\nexec runc "$@"\n',
      { mode: 0o755 },
    );
    const options = runcOptions(slowRunc);
    const pid = await create('c9', ['true'], '', '', '', options);
    await start('c9');
    assert.equal((await wait('c9')).exitStatus, 0);
    // Right after the answer (no `start` in between): runc create refuses an id whose
    // state is still there, so this Create must wait for the (slow) delete.
    const b = bundle('c9', ['sh', '-c', 'exit 4']);
    await del('c9');
    const again = await call(
      'Create',
      CreateTaskRequest.encode(
        CreateTaskRequest.fromPartial({
          id: 'c9',
          bundle: b,
          rootfs: [{ type: 'bind', source: rootfs, target: '', options: ['rbind', 'ro'] }],
          options,
        }),
      ).finish(),
      CreateTaskResponse,
    );
    assert.notEqual(again.pid, pid);
    await start('c9');
    assert.equal((await wait('c9')).exitStatus, 4);
    await del('c9');
    await waitUntil(() => !existsSync(join(dir, 'runc', NS, 'c9')));
  });

  it('kills a running init itself; a paused init and --all go through runc kill', async () => {
    // A runc that notes its kills.
    const calls = join(dir, 'runc-kills');
    const noting = join(dir, 'noting-runc');
    writeFileSync(
      noting,
      `#!/bin/sh\nfor a in "$@"; do [ "$a" = kill ] && echo "$*" >> ${calls}; done\nexec runc "$@"\n`,
      { mode: 0o755 },
    );
    const options = runcOptions(noting);
    const kills = () => (existsSync(calls) ? readFileSync(calls, 'utf8').trim().split('\n') : []);
    for (const id of ['k1', 'k2', 'k3']) {
      await create(id, ['sleep', '1000'], '', '', '', options);
      await start(id);
    }
    // Running: kill(2) from the shim, no runc.
    await kill('k1', 9);
    assert.equal((await wait('k1')).exitStatus, 137);
    assert.deepEqual(kills(), []);
    // Paused: runc, which thaws the cgroup for SIGKILL.
    await call('Pause', PauseRequest.encode({ id: 'k2' }).finish(), Empty);
    await kill('k2', 9);
    assert.equal((await wait('k2')).exitStatus, 137);
    assert.equal(kills().length, 1);
    assert.match(kills()[0] ?? '', / kill k2 9$/);
    // --all: runc.
    await kill('k3', 9, '', true);
    assert.equal((await wait('k3')).exitStatus, 137);
    assert.match(kills()[1] ?? '', / kill --all k3 9$/);
    // Exited: runc answers (not found), and no pid is signalled.
    await assert.rejects(kill('k1', 9), isNotFound);
    for (const id of ['k1', 'k2', 'k3']) await del(id);
  });

  it('a Create of an id whose runc state a dead shim left removes that state first', async () => {
    // What a shim killed between a Delete's answer and its runc delete leaves: runc's state of the id.
    const stale = join(dir, 'stale-c8');
    mkdirSync(stale);
    const s = structuredClone(spec);
    s.process.args = ['sleep', '1000'];
    s.process.terminal = false;
    s.root = { path: rootfs, readonly: true };
    writeFileSync(join(stale, 'config.json'), JSON.stringify(s));
    const root = join(dir, 'runc', NS);
    execFileSync('runc', ['--root', root, 'create', '--bundle', stale, 'c8'], { stdio: 'ignore' });
    assert.ok(existsSync(join(root, 'c8', 'state.json')));
    const out = fifo('c8-stdout');
    const output = readAll(out);
    await create('c8', ['echo', 'fresh'], out);
    await start('c8');
    assert.equal((await wait('c8')).exitStatus, 0);
    assert.equal(await output, 'fresh\n');
    await del('c8');
  });

  it("a failed create returns runc's error and writes none of it into the client's FIFOs", async () => {
    const out = fifo('c7-stdout');
    const err = fifo('c7-stderr');
    const outText = readAll(out);
    const errText = readAll(err);
    await assert.rejects(create('c7', ['/no/such/binary'], out, '', err), (e: Error) => {
      assert.match(e.message, /OCI runtime create failed: .*no such file or directory/);
      return true;
    });
    // runc wrote its error to its stderr, the container's: the shim dropped that pipe unread.
    assert.equal(await errText, '');
    assert.equal(await outText, '');
    await assert.rejects(state('c7'), isNotFound);
  });

  it('execs, pids, kills with 128+signal, refuses in wrong states', async () => {
    received.length = 0;
    const pid = await create('c2', ['sleep', '1000']);
    await start('c2');
    await assert.rejects(start('c2'), isFailedPrecondition);
    await assert.rejects(del('c2'), isFailedPrecondition);

    const out = fifo('e1-stdout');
    const output = readAll(out);
    await exec('c2', 'e1', ['sh', '-c', 'echo from-exec; exit 5'], out);
    await assert.rejects(exec('c2', 'e1', ['true']), isAlreadyExists);
    await start('c2', 'e1');
    assert.equal((await wait('c2', 'e1')).exitStatus, 5);
    assert.equal(await output, 'from-exec\n');
    await del('c2', 'e1');
    await assert.rejects(state('c2', 'e1'), isNotFound);

    await exec('c2', 'e2', ['sleep', '1000']);
    const e2 = await start('c2', 'e2');
    const pids = await call('Pids', PidsRequest.encode({ id: 'c2' }).finish(), PidsResponse);
    assert.ok(pids.processes.some((p) => p.pid === pid && !p.info));
    const withInfo = pids.processes.find((p) => p.pid === e2.pid);
    assert.equal(withInfo?.info?.typeUrl, 'containerd.runc.v1.ProcessDetails');
    assert.equal(ProcessDetails.decode(withInfo?.info?.value as Uint8Array).execId, 'e2');
    await kill('c2', 9, 'e2');
    assert.equal((await wait('c2', 'e2')).exitStatus, 137);
    await assert.rejects(kill('c2', 9, 'e2'), isNotFound);

    // sleep as the pid namespace's init ignores SIGTERM: SIGKILL it.
    await kill('c2', 9);
    assert.equal((await wait('c2')).exitStatus, 137);
    await assert.rejects(exec('c2', 'e3', ['true']), isFailedPrecondition);
    await del('c2');
    await waitUntil(() => received.some((e) => e.topic === '/tasks/delete'));
    const topics = received.map((e) => e.topic);
    assert.deepEqual(topics, [
      '/tasks/create',
      '/tasks/start',
      '/tasks/exec-added',
      '/tasks/exec-started',
      '/tasks/exit',
      '/tasks/exec-added',
      '/tasks/exec-started',
      '/tasks/exit',
      '/tasks/exit',
      '/tasks/delete',
    ]);
  });

  it('stdin through the FIFO: EOF once the client closed and CloseIO came; file:// output', async () => {
    const stdin = fifo('c4-stdin');
    const out = fifo('c4-stdout');
    const output = readAll(out);
    // The client's writer, as ctr opens it: waits for the shim's reader.
    const writer = new Promise<number>((resolve, reject) =>
      open(stdin, 'w', (err, fd) => (err ? reject(err) : resolve(fd))),
    );
    await create('c4', ['cat'], out, stdin);
    await start('c4');
    const wfd = await writer;
    writeSync(wfd, 'through stdin\n');
    closeSync(wfd);
    await new Promise((r) => setTimeout(r, 200));
    assert.equal((await state('c4')).status, Status.RUNNING, 'no EOF before CloseIO');
    await call(
      'CloseIO',
      CloseIORequest.encode({ id: 'c4', execId: '', stdin: true }).finish(),
      Empty,
    );
    assert.equal((await wait('c4')).exitStatus, 0);
    assert.equal(await output, 'through stdin\n');
    await del('c4');

    const log = join(dir, 'logs', 'c5.log');
    await create('c5', ['sh', '-c', 'echo out; echo err >&2'], `file://${log}`);
    await start('c5');
    assert.equal((await wait('c5')).exitStatus, 0);
    assert.equal(readFileSync(log, 'utf8'), 'out\nerr\n');
    await del('c5');
  });

  it('Shutdown exits the shim only once no container is left', async () => {
    await create('c3', ['sleep', '1000']);
    const conn = await call('Connect', Buffer.from([]), ConnectResponse);
    assert.equal(conn.shimPid, shimPid);
    assert.ok(shimPid > 0);
    await call('Shutdown', ShutdownRequest.encode({ id: 'c3', now: false }).finish(), Empty);
    await new Promise((r) => setTimeout(r, 200));
    assert.ok(alive(shimPid), 'still serving c3');
    await kill('c3', 9);
    assert.equal((await wait('c3')).exitStatus, 137);
    await del('c3');
    await call('Shutdown', ShutdownRequest.encode({ id: 'c3', now: false }).finish(), Empty);
    await waitUntil(() => !alive(shimPid));
    assert.ok(!existsSync(address.replace('unix://', '')), 'socket removed');
  });

  it('delete cleans a bundle whose shim was killed; its container keeps running until then', async () => {
    client.close();
    address = '';
    const pid = await create('c6', ['sleep', '1000']);
    await start('c6');
    process.kill(shimPid, 'SIGKILL');
    await waitUntil(() => !alive(shimPid));
    assert.ok(alive(pid), 'the container outlives its shim');
    const b = join(dir, 'bundles', 'c6');
    const out = await new Promise<Buffer>((resolve, reject) => {
      const child = spawn(
        process.execPath,
        ['--import', import.meta.resolve('tsx'), MAIN, '-namespace', NS, '-id', 'c6', 'delete'],
        { cwd: b, stdio: ['ignore', 'pipe', 'inherit'] },
      );
      const chunks: Buffer[] = [];
      child.stdout.on('data', (d: Buffer) => chunks.push(d));
      child.on('close', (code) =>
        code === 0 ? resolve(Buffer.concat(chunks)) : reject(new Error(`delete: ${code}`)),
      );
    });
    const r = DeleteResponse.decode(out);
    assert.equal(r.exitStatus, 137);
    assert.equal(r.pid, pid);
    await waitUntil(() => !alive(pid) || isZombie(pid));
    const list = execFileSync('runc', ['--root', join(dir, 'runc', NS), 'list', '-q'], {
      encoding: 'utf8',
    });
    assert.ok(!list.split('\n').includes('c6'), 'runc state removed');
    assert.ok(!readFileSync('/proc/self/mountinfo', 'utf8').includes(join(b, 'rootfs')));
  });
});

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function waitUntil(cond: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 20));
  }
}

function isZombie(pid: number): boolean {
  try {
    return /^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, 'utf8'));
  } catch {
    return true;
  }
}
