import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { after, describe, it } from 'node:test';
import { tempDir } from '../../../test/helpers/tmp.js';
import { decodeEntry } from './jsonlog.js';

const MAIN = join(import.meta.dirname, 'logger-main.ts');
const dir = tempDir('berth-logger-');
after(() => dir.remove());

/** The logger as the shim starts it: fds 3 and 4 the container's stdout and stderr, fd 5 the ready pipe. */
function startLogger(id: string, args: string[]) {
  const proc = spawn(process.execPath, ['--import', 'tsx', MAIN, ...args], {
    stdio: ['ignore', 'ignore', 'pipe', 'pipe', 'pipe', 'pipe'],
    env: { ...process.env, CONTAINER_ID: id, CONTAINER_NAMESPACE: 'default' },
  });
  let stderr = '';
  proc.stderr?.on('data', (b: Buffer) => (stderr += b.toString()));
  const stdout = proc.stdio[3] as Writable;
  const stderrPipe = proc.stdio[4] as Writable;
  const readyPipe = (proc.stdio as unknown as Readable[])[5] as Readable;
  const ready = new Promise<Buffer>((res) => {
    const got: Buffer[] = [];
    readyPipe.on('data', (b: Buffer) => got.push(b));
    readyPipe.on('end', () => res(Buffer.concat(got)));
    readyPipe.on('close', () => res(Buffer.concat(got)));
  });
  const exited = new Promise<number | null>((res) => proc.on('exit', (code) => res(code)));
  return { proc, stdout, stderr: stderrPipe, ready, exited, output: () => stderr };
}

function entries(path: string) {
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => decodeEntry(l));
}

const end = (w: Writable) => new Promise<void>((res) => w.end(res));

/** The files the entry loads, by their static imports. */
function importClosure(entry: string): Set<string> {
  const seen = new Set<string>();
  const visit = (file: string) => {
    if (seen.has(file)) return;
    seen.add(file);
    const src = readFileSync(file, 'utf8');
    for (const m of src.matchAll(/^(?:import|export)\s[^;]*?from\s+'([^']+)'/gms)) {
      const spec = m[1] as string;
      if (spec.startsWith('.')) visit(resolve(dirname(file), spec.replace(/\.js$/, '.ts')));
      else seen.add(spec);
    }
  };
  visit(entry);
  return seen;
}

describe('berth-logger (the shim log driver entry)', () => {
  it('loads only node builtins and its own small modules, for a fast start', () => {
    const loaded = [...importClosure(MAIN)];
    const foreign = loaded.filter(
      (f) => !f.startsWith('node:') && dirname(f) !== import.meta.dirname,
    );
    assert.deepEqual(foreign, []);
    assert.ok(loaded.includes(join(import.meta.dirname, 'log-writer.ts')), loaded.join());
    assert.ok(!loaded.some((f) => /log-config|read-logs|since/.test(f)), loaded.join());
  });

  it('signals ready with a byte and EOF, logs both streams, exits 0 when both pipes close', async () => {
    const l = startLogger('c1', ['--max-file', '2', '--dir', dir.path, '--max-size', '1000000']);
    assert.deepEqual([...(await l.ready)], [0]);
    l.stdout.write('out 1\n');
    l.stderr.write('err 1\n');
    l.stdout.write('out 2\nunfinished');
    await end(l.stdout);
    await end(l.stderr);
    assert.equal(await l.exited, 0, l.output());
    const got = entries(join(dir.path, 'c1-json.log'));
    const by = (s: string) => got.filter((e) => e?.stream === s).map((e) => e?.log);
    assert.deepEqual(by('stdout'), ['out 1\n', 'out 2\n', 'unfinished']);
    assert.deepEqual(by('stderr'), ['err 1\n']);
  });

  it('keeps logging one stream after the other closed', async () => {
    const l = startLogger('c2', ['--dir', dir.path]);
    await l.ready;
    await end(l.stderr);
    l.stdout.write('still here\n');
    await end(l.stdout);
    assert.equal(await l.exited, 0, l.output());
    assert.deepEqual(
      entries(join(dir.path, 'c2-json.log')).map((e) => e?.log),
      ['still here\n'],
    );
  });

  it('on SIGTERM reads the pipes to their end, then writes what it holds and exits 0', async () => {
    const l = startLogger('c3', ['--dir', dir.path]);
    await l.ready;
    l.stdout.write('before\n');
    l.proc.kill('SIGTERM');
    // As the shim does it: SIGTERM once its ends are closed, with data still in the pipes.
    l.stdout.write('after\npending');
    l.stderr.write('err');
    await end(l.stdout);
    await end(l.stderr);
    assert.equal(await l.exited, 0, l.output());
    const got = entries(join(dir.path, 'c3-json.log'));
    assert.deepEqual(
      got.filter((e) => e?.stream === 'stdout').map((e) => e?.log),
      ['before\n', 'after\n', 'pending'],
    );
    assert.deepEqual(
      got.filter((e) => e?.stream === 'stderr').map((e) => e?.log),
      ['err'],
    );
  });

  it('after SIGTERM waits --stop-timeout at most for pipes that stay open', async () => {
    const l = startLogger('c5', ['--dir', dir.path, '--stop-timeout', '100']);
    await l.ready;
    l.stdout.write('done\nunfinished');
    const path = join(dir.path, 'c5-json.log');
    for (let i = 0; i < 200 && !readFileSync(path, 'utf8').includes('done'); i++) {
      await new Promise((r) => setTimeout(r, 10));
    }
    l.proc.kill('SIGTERM');
    assert.equal(await l.exited, 0, l.output());
    assert.deepEqual(
      entries(path).map((e) => e?.log),
      ['done\n', 'unfinished'],
    );
    cleanup(l.proc);
  });

  it('rotates as told', async () => {
    const l = startLogger('c4', ['--dir', dir.path, '--max-size', '200', '--max-file', '2']);
    await l.ready;
    for (let i = 0; i < 10; i++) l.stdout.write(`line ${i}\n`);
    await end(l.stdout);
    await end(l.stderr);
    assert.equal(await l.exited, 0, l.output());
    const path = join(dir.path, 'c4-json.log');
    const kept = [...entries(`${path}.1`), ...entries(path)].map((e) => e?.log);
    assert.equal(kept.at(-1), 'line 9\n');
    assert.ok(kept.length < 10);
  });

  it('fails without CONTAINER_ID or --dir, before signalling ready', async () => {
    const l = startLogger('', ['--dir', dir.path]);
    assert.equal((await l.ready).length, 0);
    assert.equal(await l.exited, 1);
    assert.match(l.output(), /CONTAINER_ID/);
    cleanup(l.proc);
  });
});

function cleanup(p: ChildProcess) {
  for (const s of p.stdio) s?.destroy();
}
