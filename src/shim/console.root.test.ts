import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import {
  closeSync,
  constants,
  copyFileSync,
  createReadStream,
  mkdirSync,
  openSync,
  readFileSync,
  symlinkSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type TempDir, tempDir } from '../../test/helpers/tmp.js';
import { nullLogger } from '../core/log/index.js';
import { Console, ConsoleSocket } from './console.js';
import { Reaper } from './reaper.js';

/**
 * The shim's TTY path end to end with the real runc: `runc create
 * --console-socket` (a Node child through the reaper), the pty master
 * received, resized and copied, the container's init reparented to this
 * process (a subreaper) and reaped with its status.
 */
describe('Console and Reaper with runc', () => {
  let dir: TempDir;
  let reaper: Reaper;
  const id = `berth-console-${process.pid}`;
  let runcRoot: string;

  before(() => {
    dir = tempDir();
    runcRoot = join(dir.path, 'runc');
    reaper = Reaper.start(nullLogger);
  });
  after(() => {
    for (const c of [id, `${id}-2`]) {
      try {
        execFileSync('runc', ['--root', runcRoot, 'delete', '--force', c], { stdio: 'ignore' });
      } catch {
        // deleted by the test
      }
    }
    reaper.close();
    dir.remove();
  });

  function runc(args: string[]): Promise<number | null> {
    const child = reaper.spawn('runc', ['--root', runcRoot, ...args], {
      stdio: ['ignore', 'inherit', 'inherit'],
    });
    return new Promise((resolve, reject) => {
      child.once('error', reject);
      child.once('exit', (code) => resolve(code));
    });
  }

  it('receives the pty, copies stdin and stdout, resizes, and reaps the init with its status', async () => {
    const bundle = join(dir.path, 'bundle');
    const rootfs = join(bundle, 'rootfs');
    mkdirSync(join(rootfs, 'bin'), { recursive: true });
    for (const d of ['proc', 'dev', 'sys', 'tmp']) mkdirSync(join(rootfs, d));
    copyFileSync('/bin/busybox', join(rootfs, 'bin/busybox'));
    for (const a of ['sh', 'stty', 'echo', 'sleep']) symlinkSync('busybox', join(rootfs, 'bin', a));
    execFileSync('runc', ['spec', '--bundle', bundle]);
    const spec = JSON.parse(readFileSync(join(bundle, 'config.json'), 'utf8'));
    spec.process.terminal = true;
    spec.process.args = ['sh', '-c', 'stty size; read line; echo "got:$line"; exit 5'];
    spec.root = { path: 'rootfs', readonly: true };
    writeFileSync(join(bundle, 'config.json'), JSON.stringify(spec));

    const stdin = join(dir.path, 'stdin');
    const stdout = join(dir.path, 'stdout');
    execFileSync('mkfifo', [stdin, stdout]);
    const sock = await ConsoleSocket.create(dir.path);
    const pidFile = join(dir.path, 'pid');
    const created = runc([
      'create',
      '--bundle',
      bundle,
      '--console-socket',
      sock.path,
      '--pid-file',
      pidFile,
      id,
    ]);
    const master = await sock.receive(10_000);
    sock.close();
    assert.equal(await created, 0);
    const pid = Number(readFileSync(pidFile, 'utf8'));
    const con = new Console(master, nullLogger);
    con.start({ stdin, stdout });
    con.resize(77, 22);
    let text = '';
    const out = new Promise<void>((resolve) =>
      createReadStream(stdout)
        .on('data', (b) => {
          text += b.toString();
        })
        .on('end', resolve),
    );
    const exit = reaper.wait(pid);
    assert.equal(await runc(['start', id]), 0);
    const w = openSync(stdin, constants.O_WRONLY | constants.O_NONBLOCK);
    writeSync(w, 'hi\n');
    closeSync(w);
    assert.equal((await exit).status, 5);
    await con.done;
    con.close();
    await out;
    assert.match(text, /22 77/);
    assert.match(text, /got:hi/);
    assert.equal(await runc(['delete', id]), 0);
  });

  it('reports a container init killed by a signal as 128+signal', async () => {
    const bundle = join(dir.path, 'bundle');
    const spec = JSON.parse(readFileSync(join(bundle, 'config.json'), 'utf8'));
    spec.process.terminal = false;
    spec.process.args = ['sleep', '100'];
    writeFileSync(join(bundle, 'config.json'), JSON.stringify(spec));
    const pidFile = join(dir.path, 'pid2');
    const sub = reaper.subscribe();
    assert.equal(await runc(['create', '--bundle', bundle, '--pid-file', pidFile, `${id}-2`]), 0);
    const pid = Number(readFileSync(pidFile, 'utf8'));
    sub.close();
    assert.deepEqual(sub.exits, [], 'the init runs');
    const exit = reaper.wait(pid);
    assert.equal(await runc(['start', `${id}-2`]), 0);
    assert.equal(await runc(['kill', `${id}-2`, 'KILL']), 0);
    assert.equal((await exit).status, 137);
    assert.equal(await runc(['delete', `${id}-2`]), 0);
  });
});
