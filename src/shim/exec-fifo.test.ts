import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { type TempDir, tempDir } from '../../test/helpers/tmp.js';
import { knownRuncVersion, startByExecFifo } from './exec-fifo.js';

describe('startByExecFifo (runc 1.1 start of a created container)', () => {
  let tmp: TempDir;
  let n = 0;
  const fifo = () => {
    const p = join(tmp.path, `exec-${n++}.fifo`);
    execFileSync('mkfifo', [p]);
    return p;
  };
  before(() => {
    tmp = tempDir('berth-exec-fifo-');
  });
  after(() => tmp.remove());

  it("lets a waiting init go: reads its byte, removes the FIFO (runc's exec())", async () => {
    const path = fifo();
    // The init: blocked opening the FIFO for writing until a reader comes, writes one byte.
    const init = spawn('/bin/sh', ['-c', 'printf 0 > "$1"; sleep 0.2', 'sh', path]);
    const exited = new Promise((r) => init.once('exit', r));
    assert.equal(await startByExecFifo(path, exited), true);
    assert.ok(!existsSync(path), 'FIFO removed: runc reports the container running');
    await exited;
  });

  it('an init that dies without opening the FIFO fails the start instead of hanging it', async () => {
    const path = fifo();
    await assert.rejects(startByExecFifo(path, sleep(50)), /container process is already dead/);
    assert.ok(existsSync(path), 'FIFO kept, as runc keeps it');
  });

  it('an init that wrote and exited before the exit was seen still starts', async () => {
    const path = fifo();
    const init = spawn('/bin/sh', ['-c', 'printf 0 > "$1"', 'sh', path]);
    const exited = new Promise((r) => init.once('exit', r));
    assert.equal(await startByExecFifo(path, exited), true);
    assert.ok(!existsSync(path));
  });

  it('no FIFO (not a created container): false, for `runc start` to refuse in its words', async () => {
    assert.equal(await startByExecFifo(join(tmp.path, 'none.fifo'), sleep(10)), false);
  });

  it('knows a runc version only after its --version answered one it knows', async () => {
    const bin = join(tmp.path, 'fake-runc');
    execFileSync('sh', [
      '-c',
      `printf '#!/bin/sh\\necho "runc version 1.1.5+ds1"\\necho "commit: x"\\n' > ${bin}; chmod +x ${bin}`,
    ]);
    const other = join(tmp.path, 'fake-runc-2');
    execFileSync('sh', [
      '-c',
      `printf '#!/bin/sh\\necho "runc version 1.2.0"\\n' > ${other}; chmod +x ${other}`,
    ]);
    assert.equal(knownRuncVersion(bin, spawn), false, 'unknown until answered');
    assert.equal(knownRuncVersion(other, spawn), false);
    for (let i = 0; i < 100 && !knownRuncVersion(bin, spawn); i++) await sleep(50);
    assert.equal(knownRuncVersion(bin, spawn), true);
    // Settled too by now (both probes were started together); give it the same time anyway.
    await sleep(100);
    assert.equal(knownRuncVersion(other, spawn), false, '1.2 runs poststart hooks at start');
    assert.equal(knownRuncVersion(join(tmp.path, 'missing'), spawn), false);
  });
});
