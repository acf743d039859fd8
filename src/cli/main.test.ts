import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { describe, it } from 'node:test';
import { main } from './main.js';

/** Runs berth's main in-process with captured streams; the address is one no daemon listens on. */
async function berth(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (b: Buffer) => (out += b.toString()));
  stderr.on('data', (b: Buffer) => (err += b.toString()));
  const env = { CONTAINERD_ADDRESS: '/nonexistent/berth-main-test.sock' };
  const code = await main(argv, { stdin: new PassThrough(), stdout, stderr }, env, [
    process.execPath,
    'berth',
  ]);
  return { code, out, err };
}

describe('berth main', () => {
  it('fails an unknown command with 125 and one line on stderr', async () => {
    const r = await berth('frobnicate');
    assert.equal(r.code, 125);
    assert.equal(r.out, '');
    assert.equal(r.err, "berth: 'frobnicate' is not a berth command (see 'berth --help')\n");
  });

  it('fails an unknown flag of a command with 125, naming the flag and the help', async () => {
    const r = await berth('version', '--bogus');
    assert.equal(r.code, 125);
    assert.equal(r.err.split('\n').length, 2);
    assert.match(r.err, /^berth: unknown flag: --bogus \(see 'berth version --help'\)\n$/);
  });

  it('prints the commands for --help and exits 0', async () => {
    const r = await berth('--help');
    assert.equal(r.code, 0);
    assert.match(r.out, /^Usage: {2}berth \[OPTIONS\] COMMAND/);
    assert.match(r.out, /\n {2}version +Show the berth version information\n/);
  });

  it("prints a command's usage and flags for <command> --help", async () => {
    const r = await berth('version', '--help');
    assert.equal(r.code, 0);
    assert.match(r.out, /^Usage: {2}berth version \[OPTIONS\]/);
    assert.match(r.out, /--client/);
  });

  it('prints the client version without the daemon for version --client', async () => {
    const r = await berth('version', '--client');
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /^Client:\n Version: +\S+/);
    assert.doesNotMatch(r.out, /Server:/);
    assert.equal(r.err, '');
  });

  it('prints version --format json as JSON', async () => {
    const r = await berth('version', '--client', '--format', 'json');
    assert.equal(r.code, 0, r.err);
    const v = JSON.parse(r.out) as { Client: { Version: string; Os: string }; Server?: unknown };
    assert.equal(typeof v.Client.Version, 'string');
    assert.equal(v.Client.Os, process.platform);
    assert.equal(v.Server, undefined);
  });

  it('fails ps with 125 and one line at once when the daemon cannot be reached', async () => {
    const r = await berth('ps');
    assert.equal(r.code, 125);
    assert.equal(r.out, '');
    assert.match(
      r.err,
      /^berth: cannot reach the daemon at \/nonexistent\/berth-main-test\.sock: connect ENOENT[^\n]*\n$/,
    );
  });

  it('fails version with 125 and one line when the daemon cannot be reached, after the client part', async () => {
    const r = await berth('version', '--format', 'json');
    assert.equal(r.code, 125);
    assert.ok(JSON.parse(r.out).Client);
    assert.equal(r.err.trimEnd().split('\n').length, 1);
    assert.match(r.err, /^berth: cannot reach the daemon at \/nonexistent\/berth-main-test\.sock/);
  });
});
