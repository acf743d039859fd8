import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type CtrProcess, ctrAsync, ctrOkAsync, ctrTty, taskList } from '../helpers/ctr.js';
import {
  alive,
  cmdline,
  daemonKind,
  descendants,
  startDaemonWithImage,
  type TestDaemon,
  uniqueId,
} from '../helpers/daemon.js';
import { runtimeLabel } from '../helpers/runtime.js';

const root = process.getuid?.() === 0;
const kind = daemonKind();

/** Waits for a `script`-driven ctr to exit, killing it after `ms`. */
async function exitOf(p: CtrProcess, ms = 30_000): Promise<number | null> {
  const t = setTimeout(() => p.kill('SIGKILL'), ms);
  try {
    return await p.exited;
  } finally {
    clearTimeout(t);
  }
}

/**
 * Shell that waits (at most 5 s) for its terminal to be `rows cols`, then
 * prints `stty size`. ctr resizes the task's pty only after Start (and
 * attach only after connecting), so a process that asks at once may still
 * see 0x0; if the size never comes, what stty says shows in the output.
 */
const sizeWhenSet = (rows: number, cols: number) =>
  `i=0; while [ "$(stty size 2>/dev/null)" != "${rows} ${cols}" ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i+1)); done; stty size`;

/** Terminal output as lines, without the pty's carriage returns. */
const lines = (out: string) =>
  out
    .replace(/\r/g, '')
    .split('\n')
    .filter((l) => l !== '');

describe(`terminals with the real ctr (${kind}${runtimeLabel()})`, {
  skip: !root && 'needs root',
}, () => {
  let d: TestDaemon;
  let image: string;
  const started: CtrProcess[] = [];
  const tty = (args: string[], size: { rows: number; cols: number }) => {
    const p = ctrTty(d.socket, args, size);
    started.push(p);
    return p;
  };

  before(async () => {
    ({ d, image } = await startDaemonWithImage());
  });
  after(async () => {
    for (const p of started) p.kill('SIGKILL');
    await d?.cleanup();
  });

  it('ctr run -t gives the process a pty of the caller terminal size', async () => {
    const id = uniqueId('tty');
    const p = tty(['run', '-t', '--rm', image, id, 'sh', '-c', `tty; ${sizeWhenSet(40, 132)}`], {
      rows: 40,
      cols: 132,
    });
    assert.equal(await exitOf(p), 0, `${p.stdout}${p.stderr}`);
    const out = lines(p.stdout);
    assert.equal(out.length, 2, JSON.stringify(p.stdout));
    assert.match(out[0] ?? '', /^\/dev\/pts\/\d+$/);
    assert.equal(out[1], '40 132');

    // The exit status comes through the terminal too.
    const q = tty(['run', '-t', '--rm', image, uniqueId('tty5'), 'sh', '-c', 'exit 5'], {
      rows: 24,
      cols: 80,
    });
    assert.equal(await exitOf(q), 5, `${q.stdout}${q.stderr}`);
  });

  it('ctr task attach to a detached tty container: type, read, resize, detach, re-attach, exit', async () => {
    const id = uniqueId('attach');
    const run = tty(['run', '-d', '-t', image, id, 'sh'], { rows: 24, cols: 80 });
    assert.equal(await exitOf(run), 0, `${run.stdout}${run.stderr}`);
    const before = (await taskList(d.socket)).find((t) => t.id === id);
    assert.equal(before?.status, 'RUNNING');
    const pid = before.pid;
    assert.deepEqual(cmdline(pid), ['sh']);

    // Attach with another size: ctr resizes the task's pty to its terminal.
    const a = tty(['task', 'attach', id], { rows: 30, cols: 100 });
    a.write(`echo x$((6*7))y; ${sizeWhenSet(30, 100)}\n`);
    await a.waitOutput('the shell to answer through the attach', (o) =>
      /x42y\r?\n30 100\r?\n/.test(o.replace(/\r\r/g, '\r')),
    );

    // Detach by killing the client: the container keeps running.
    const client = descendants(a.pid).find((p) => cmdline(p)?.[0] === 'ctr');
    assert.ok(client, 'script runs ctr');
    process.kill(client, 'SIGKILL');
    await exitOf(a);
    assert.ok(alive(pid));
    assert.equal((await taskList(d.socket)).find((t) => t.id === id)?.status, 'RUNNING');

    // Attach again: the same shell answers; exit ends the task and the attach with its status.
    const b = tty(['task', 'attach', id], { rows: 30, cols: 100 });
    b.write('echo y$((6*7))z\n');
    await b.waitOutput('the shell to answer the second attach', (o) => o.includes('y42z'));
    b.write('exit 3\n');
    assert.equal(await exitOf(b), 3, `${b.stdout}${b.stderr}`);
    assert.ok(!alive(pid));
    // ctr task attach deletes the task once it has exited.
    assert.equal(
      (await taskList(d.socket)).find((t) => t.id === id),
      undefined,
    );
    await ctrOkAsync(d.socket, ['containers', 'rm', id]);
    const left = await ctrAsync(d.socket, ['containers', 'ls', '-q']);
    assert.ok(!left.stdout.includes(id), left.stdout);
  });
});
