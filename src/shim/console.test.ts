import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import {
  closeSync,
  constants,
  createReadStream,
  existsSync,
  fstatSync,
  openSync,
  writeSync,
} from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type TempDir, tempDir } from '../../test/helpers/tmp.js';
import { hasKind } from '../core/errdefs/index.js';
import { nullLogger } from '../core/log/index.js';
import { sendFd } from '../sys/fd-pass.js';
import { getWinsize, openPty } from '../sys/pty.js';
import { Console, ConsoleSocket } from './console.js';

function readAll(path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    createReadStream(path)
      .on('data', (b) => {
        text += b.toString();
      })
      .on('end', () => resolve(text))
      .on('error', reject);
  });
}

describe('ConsoleSocket', () => {
  let dir: TempDir;
  before(() => {
    dir = tempDir();
  });
  after(() => dir.remove());

  it('receives the pty master a peer sends with SCM_RIGHTS; close removes the socket', async () => {
    const cs = await ConsoleSocket.create(dir.path);
    const pty = openPty();
    const slaveFd = openSync(pty.slave, constants.O_RDWR | constants.O_NOCTTY);
    try {
      const client = connect(cs.path, () => {
        sendFd(client, pty.master, '/dev/ptmx');
        client.end();
      });
      const fd = await cs.receive(5000);
      assert.notEqual(fd, pty.master);
      // The same pty: a size set through the received fd shows on the slave.
      const con = new Console(fd, nullLogger);
      con.resize(132, 43);
      assert.deepEqual(getWinsize(slaveFd), { width: 132, height: 43 });
      con.close();
    } finally {
      closeSync(slaveFd);
      closeSync(pty.master);
      cs.close();
    }
    assert.equal(existsSync(cs.path), false);
  });

  it('times out when nobody sends', async () => {
    const cs = await ConsoleSocket.create(dir.path);
    try {
      await assert.rejects(cs.receive(30), (err) => hasKind(err, 'deadline_exceeded'));
      // A peer that closes without an fd.
      const client = connect(cs.path, () => client.end());
      await assert.rejects(cs.receive(5000), (err) => hasKind(err, 'failed_precondition'));
    } finally {
      cs.close();
    }
  });
});

describe('Console', () => {
  let dir: TempDir;
  before(() => {
    dir = tempDir();
  });
  after(() => dir.remove());

  it('copies stdin into the pty and the pty into stdout; closeStdin sends EOF; done after the slave closed', async () => {
    const stdin = join(dir.path, 'stdin');
    const stdout = join(dir.path, 'stdout');
    execFileSync('mkfifo', [stdin, stdout]);
    const pty = openPty();
    const slaveFd = openSync(pty.slave, constants.O_RDWR | constants.O_NOCTTY);
    const con = new Console(pty.master, nullLogger);
    con.start({ stdin, stdout });
    con.resize(100, 30);
    assert.deepEqual(getWinsize(slaveFd), { width: 100, height: 30 });
    const out = readAll(stdout);
    // cat echoes its input back; it exits at EOF, closing the last slave fd.
    const cat = spawn('cat', [], { stdio: [slaveFd, slaveFd, slaveFd] });
    const exited = new Promise<number | null>((resolve) => cat.once('exit', resolve));
    closeSync(slaveFd);
    const w = openSync(stdin, constants.O_WRONLY | constants.O_NONBLOCK);
    writeSync(w, 'hello\npartial');
    closeSync(w);
    con.closeStdin();
    assert.equal(await exited, 0, 'cat saw EOF');
    await con.done;
    const text = await out;
    // The line discipline's echo, then cat's copy (onlcr makes \r\n).
    assert.match(text, /hello\r\n/);
    assert.equal(text.split('hello').length - 1, 2, text);
    assert.equal(text.split('partial').length - 1, 2, text);
    con.close();
  });

  it('drains the output with no stdout, and close() ends everything', async () => {
    const pty = openPty();
    const slaveFd = openSync(pty.slave, constants.O_RDWR | constants.O_NOCTTY);
    const con = new Console(pty.master, nullLogger);
    con.start({ stdin: '', stdout: '' });
    const child = spawn(
      'sh',
      ['-c', 'i=0; while [ $i -lt 2000 ]; do echo line $i; i=$((i+1)); done'],
      {
        stdio: ['ignore', slaveFd, slaveFd],
      },
    );
    closeSync(slaveFd);
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    assert.equal(code, 0, 'the writer never blocked');
    await con.done;
    con.close();
  });

  it('in raw mode closeStdin hangs the pty up, as the Go shim does', async () => {
    const stdin = join(dir.path, 'raw-stdin');
    const stdout = join(dir.path, 'raw-stdout');
    execFileSync('mkfifo', [stdin, stdout]);
    const pty = openPty();
    const slaveFd = openSync(pty.slave, constants.O_RDWR | constants.O_NOCTTY);
    const con = new Console(pty.master, nullLogger);
    con.start({ stdin, stdout });
    let text = '';
    let onText: () => void = () => {};
    const reader = createReadStream(stdout).on('data', (b) => {
      text += b.toString();
      onText();
    });
    // setsid + the slave as controlling terminal: the hangup's SIGHUP reaches sh.
    const sh = spawn('setsid', ['-c', 'sh', '-c', 'stty raw -echo; echo ready; exec cat'], {
      stdio: [slaveFd, slaveFd, slaveFd],
    });
    const exited = new Promise<string | null>((resolve) =>
      sh.once('exit', (_c, sig) => resolve(sig)),
    );
    closeSync(slaveFd);
    await new Promise<void>((resolve) => {
      onText = () => {
        if (text.includes('ready')) resolve();
      };
      onText();
    });
    con.closeStdin();
    assert.equal(await exited, 'SIGHUP');
    await con.done;
    con.close();
    reader.destroy();
  });

  it('start fails on a missing FIFO with nothing left open', () => {
    const pty = openPty();
    const con = new Console(pty.master, nullLogger);
    assert.throws(
      () => con.start({ stdin: join(dir.path, 'missing'), stdout: '' }),
      (err: NodeJS.ErrnoException) => err.code === 'ENOENT',
    );
    con.close(); // closes the master
    assert.throws(
      () => fstatSync(pty.master),
      (err: NodeJS.ErrnoException) => err.code === 'EBADF',
    );
  });
});
