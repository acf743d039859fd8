import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { decodeEntry, type LogEntry } from '../../src/cli/logs/jsonlog.js';
import { loggerURI } from '../../src/cli/logs/log-config.js';
import { ctrOkAsync, taskList } from '../helpers/ctr.js';
import {
  cmdline,
  descendants,
  shimPids,
  startDaemonWithImage,
  type TestDaemon,
  uniqueId,
  waitFor,
} from '../helpers/daemon.js';
import { type TempDir, tempDir } from '../helpers/tmp.js';

const root = process.getuid?.() === 0;

function entries(path: string): LogEntry[] {
  if (!existsSync(path)) return [];
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => {
      const e = decodeEntry(l);
      assert.ok(e, `not a json-file entry: ${l}`);
      return e;
    });
}

const lines = (path: string) => entries(path).map((e) => [e.stream, e.log]);

/**
 * berth-logger under the stock containerd-shim-runc-v2 (1.6), started by a
 * real berthd through the real ctr's --log-uri. Needs `npm run build`
 * (the shim runs bin/berth-logger, which runs dist/).
 */
describe('container logs through berth-logger (binary:// log URI)', {
  skip: !root && 'needs root',
}, () => {
  let d: TestDaemon;
  let image: string;
  let logs: TempDir;
  const ok = (args: string[]) => ctrOkAsync(d.socket, args);
  const uri = (maxSize = 1024 * 1024) => loggerURI({ dir: logs.path, maxSize, maxFiles: 2 });

  before(async () => {
    ({ d, image } = await startDaemonWithImage(undefined, 'berthd'));
    logs = tempDir('berth-e2e-logs-');
  });
  after(async () => {
    await d?.cleanup();
    logs?.remove();
  });

  it('logs stdout and stderr of a detached container, each line with its stream', async () => {
    const id = uniqueId('logs1');
    await ok(['run', '-d', '--log-uri', uri(), image, id, 'sh', '-c', 'echo out; echo err >&2']);
    const path = join(logs.path, `${id}-json.log`);
    await waitFor('both lines in the log', () => entries(path).length >= 2);
    await waitFor(
      'the task to exit',
      async () => (await taskList(d.socket)).find((t) => t.id === id)?.status === 'STOPPED',
    );
    assert.deepEqual(lines(path).sort(), [
      ['stderr', 'err\n'],
      ['stdout', 'out\n'],
    ]);
    await ok(['task', 'rm', id]);
    await ok(['containers', 'rm', id]);
  });

  it('keeps every line of a task deleted as soon as it exits (ctr run --rm)', async () => {
    const id = uniqueId('logs3');
    const gate = tempDir('berth-e2e-gate-');
    try {
      const text = Array.from({ length: 20_000 }, (_, i) => `line ${i} ${'x'.repeat(40)}\n`).join(
        '',
      );
      writeFileSync(join(gate.path, 'big'), text);
      // ctr run --rm: waits for the exit, then deletes the task at once.
      await ok([
        'run',
        '--rm',
        '--log-uri',
        uri(64 * 1024 * 1024),
        '--mount',
        `type=bind,src=${gate.path},dst=/gate,options=rbind:ro`,
        image,
        id,
        'sh',
        '-c',
        'cat /gate/big; cat /gate/big >&2',
      ]);
      const path = join(logs.path, `${id}-json.log`);
      const of = (stream: string) =>
        entries(path)
          .filter((e) => e.stream === stream)
          .map((e) => e.log)
          .join('');
      assert.ok(of('stdout') === text, `stdout: ${of('stdout').length} of ${text.length} bytes`);
      assert.ok(of('stderr') === text, `stderr: ${of('stderr').length} of ${text.length} bytes`);
    } finally {
      gate.remove();
    }
  });

  it("keeps logging while berthd is down: the logger is the shim's child", async () => {
    const id = uniqueId('logs2');
    const gate = tempDir('berth-e2e-gate-');
    try {
      await ok([
        'run',
        '-d',
        '--log-uri',
        uri(),
        '--mount',
        `type=bind,src=${gate.path},dst=/gate,options=rbind:ro`,
        image,
        id,
        'sh',
        '-c',
        'echo before; until cat /gate/go >/dev/null 2>&1; do sleep 0.1; done; echo after; echo oops >&2',
      ]);
      const path = join(logs.path, `${id}-json.log`);
      await waitFor('"before" in the log', () => entries(path).length >= 1);

      const shim = shimPids(d.socket).find((s) =>
        descendants(s).some((p) => (cmdline(p) ?? []).some((a) => a.endsWith('logger-main.js'))),
      );
      assert.ok(shim, 'no shim has berth-logger among its children');

      await d.stop();
      assert.equal(d.running, false);
      writeFileSync(join(gate.path, 'go'), '');
      await waitFor('the lines written while berthd is down', () => entries(path).length >= 3);
      assert.equal(d.running, false);

      await d.restart();
      await waitFor(
        'the task to exit',
        async () => (await taskList(d.socket)).find((t) => t.id === id)?.status === 'STOPPED',
      );
      // Each stream in order; between the two pipes the logger sees no order.
      const of = (stream: string) =>
        entries(path)
          .filter((e) => e.stream === stream)
          .map((e) => e.log);
      assert.deepEqual(of('stdout'), ['before\n', 'after\n']);
      assert.deepEqual(of('stderr'), ['oops\n']);
      await ok(['task', 'rm', id]);
      await ok(['containers', 'rm', id]);
    } finally {
      gate.remove();
    }
  });
});
