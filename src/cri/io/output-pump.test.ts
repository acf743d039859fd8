import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { closeSync, constants, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { CriLogLineWriter } from './cri-logger.js';
import { mkfifo, openFifoReader } from './fifo.js';
import type { LogFile } from './log-file.js';
import { OutputPump } from './output-pump.js';

/** A log file that is behind until the test says it has caught up. */
class SlowLog extends EventEmitter<{ drain: [] }> {
  writable = true;
  lines: Buffer[] = [];
  write(line: Buffer): boolean {
    this.lines.push(line);
    this.writable = false;
    return false;
  }
  catchUp(): void {
    this.writable = true;
    this.emit('drain');
  }
}

describe('OutputPump', () => {
  const dir = mkdtempSync(join(tmpdir(), 'berth-cri-pump-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('stops reading the FIFO while the log is behind, and goes on when it catches up', async () => {
    const path = join(dir, 'out');
    await mkfifo(path);
    const source = await openFifoReader(path);
    const log = new SlowLog();
    const pump = new OutputPump(source);
    pump.start(new CriLogLineWriter('stdout', 0, (l) => log.write(l)), log as unknown as LogFile);
    const w = openSync(path, constants.O_WRONLY | constants.O_NONBLOCK);
    writeSync(w, 'first\n');
    while (log.lines.length === 0) await sleep(5);
    assert.equal(source.isPaused(), true, 'the FIFO is not read while the log is behind');
    writeSync(w, 'second\n');
    await sleep(50);
    assert.equal(log.lines.length, 1, 'nothing more read');
    log.catchUp();
    while (log.lines.length < 2) await sleep(5);
    assert.match(log.lines[1]!.toString(), / stdout F second\n$/);
    closeSync(w);
    log.catchUp();
    await pump.done;
  });
});
