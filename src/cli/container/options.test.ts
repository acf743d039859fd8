import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { parseArgs } from '../args.js';
import { CliError } from '../errors.js';
import {
  CFS_PERIOD,
  CREATE_FLAGS,
  type CreateOptions,
  createOptions,
  parseMemory,
  parseVolume,
} from './options.js';

/** `berth create <argv>` as the command sees it. */
function opts(argv: string[], env: NodeJS.ProcessEnv = {}): CreateOptions {
  const { flags, args } = parseArgs(argv, CREATE_FLAGS, true);
  return createOptions(flags, args, env, '/home/u');
}

function fails(argv: string[], message: RegExp): void {
  assert.throws(
    () => opts(argv),
    (err: unknown) => err instanceof CliError && err.exitCode === 125 && message.test(err.message),
    argv.join(' '),
  );
}

const dir = mkdtempSync(join(tmpdir(), 'berth-options-'));
after(() => rmSync(dir, { recursive: true, force: true }));

describe('run/create options', () => {
  it('splits IMAGE from the command, whose flags stay its own', () => {
    const o = opts(['-t', 'busybox', 'ls', '-l', '--name', 'x']);
    assert.equal(o.image, 'busybox');
    assert.deepEqual(o.command, ['ls', '-l', '--name', 'x']);
    assert.equal(o.tty, true);
    assert.equal(o.name, undefined);
  });

  it('has docker defaults: bridge network, pull missing, no restart', () => {
    const o = opts(['busybox']);
    assert.equal(o.network, 'bridge');
    assert.equal(o.pull, 'missing');
    assert.deepEqual(o.restart, { name: 'no', maximumRetryCount: 0 });
    assert.deepEqual(o.env, []);
    assert.deepEqual(o.mounts, []);
  });

  it('takes --net as --network', () => {
    assert.equal(opts(['--net', 'host', 'busybox']).network, 'host');
    assert.equal(opts(['--network=none', 'busybox']).network, 'none');
  });

  it('reads -e K=v, -e K from the environment (dropped when unset) and env files', () => {
    const file = join(dir, 'env');
    writeFileSync(file, '# comment\n\nFROM_FILE=1\nHOME_VAR\r\nUNSET_VAR\n  SPACED=a b\n');
    const o = opts(
      ['--env-file', file, '-e', 'A=1', '-e', 'HOME_VAR', '-e', 'NOPE', '-e', 'B=', 'img'],
      {
        HOME_VAR: '/root',
      },
    );
    assert.deepEqual(o.env, [
      'FROM_FILE=1',
      'HOME_VAR=/root',
      'SPACED=a b',
      'A=1',
      'HOME_VAR=/root',
      'B=',
    ]);
    fails(['--env-file', join(dir, 'missing'), 'img'], /open .*missing: no such file or directory/);
    fails(['-e', '=x', 'img'], /invalid environment variable: =x/);
  });

  it('makes -v bind mounts, host paths absolute, ro and propagation honoured', () => {
    const o = opts(['-v', '/data:/d', '-v', './rel:/r:ro', '-v', '/x:/y:rshared,ro', 'img']);
    assert.deepEqual(o.mounts, [
      { destination: '/d', type: 'bind', source: '/data', options: ['rbind', 'rprivate', 'rw'] },
      {
        destination: '/r',
        type: 'bind',
        source: '/home/u/rel',
        options: ['rbind', 'rprivate', 'ro'],
      },
      { destination: '/y', type: 'bind', source: '/x', options: ['rbind', 'rshared', 'ro'] },
    ]);
    assert.throws(() => parseVolume('named:/d', '/'), /named volumes are not supported/);
    assert.throws(() => parseVolume('/anon', '/'), /anonymous volumes are not supported/);
    assert.throws(() => parseVolume('/a:rel', '/'), /container path must be absolute/);
    assert.throws(() => parseVolume('/a:/b:zz', '/'), /unknown mode "zz"/);
    assert.throws(() => parseVolume('/a:/b:ro:x', '/'), /invalid volume specification/);
  });

  it('turns --cpus into a CFS quota and --memory into bytes', () => {
    const o = opts(['--cpus', '1.5', '-m', '512m', 'img']);
    assert.deepEqual(o.cpu, { quota: 150_000, period: CFS_PERIOD });
    assert.equal(o.memory, 512 * 1024 * 1024);
    assert.equal(parseMemory('1g'), 1024 ** 3);
    assert.equal(parseMemory('1.5GiB'), 1.5 * 1024 ** 3);
    assert.equal(parseMemory('7000000'), 7_000_000);
    fails(['--cpus', 'two', 'img'], /invalid argument "two" for "--cpus" flag/);
    fails(['--cpus', '0', 'img'], /must be more than 0/);
    fails(['-m', '1k', 'img'], /Minimum memory limit allowed is 6MB/);
    fails(['-m', 'lots', 'img'], /invalid size: 'lots'/);
  });

  it('checks names, labels, restart, pull, workdir, hostname and signals', () => {
    const o = opts([
      '--name',
      '/web',
      '-l',
      'a=1',
      '--label',
      'b',
      '--restart',
      'on-failure:2',
      '--pull',
      'never',
      '-w',
      '/srv',
      '-u',
      '1000:1000',
      '--hostname',
      'box',
      '--stop-signal',
      'int',
      '--stop-timeout',
      '3',
      '--entrypoint',
      '',
      '--read-only',
      '--privileged',
      '--platform',
      'linux/arm64',
      '--log-opt',
      'max-size=1m',
      'img',
    ]);
    assert.equal(o.name, 'web');
    assert.deepEqual(o.labels, { a: '1', b: '' });
    assert.deepEqual(o.restart, { name: 'on-failure', maximumRetryCount: 2 });
    assert.equal(o.pull, 'never');
    assert.equal(o.workdir, '/srv');
    assert.equal(o.user, '1000:1000');
    assert.equal(o.hostname, 'box');
    assert.equal(o.stopSignal, 'SIGINT');
    assert.equal(o.stopTimeout, 3);
    assert.equal(o.entrypoint, '');
    assert.equal(o.readOnly, true);
    assert.equal(o.privileged, true);
    assert.equal(o.platform, 'linux/arm64');
    assert.deepEqual(o.logOpts, ['max-size=1m']);
    fails(['--name', 'a b', 'img'], /Invalid container name \(a b\)/);
    fails(['--pull', 'sometimes', 'img'], /invalid pull option: 'sometimes'/);
    fails(['--restart', 'maybe', 'img'], /invalid restart policy 'maybe'/);
    fails(['-w', 'rel', 'img'], /the working directory 'rel' is invalid/);
    fails(['--hostname', '-x', 'img'], /invalid hostname format/);
    fails(['--stop-signal', 'SIGNOPE', 'img'], /invalid signal: SIGNOPE/);
    fails(['-p', '80', '--network', 'host', 'img'], /port publishing and the host network/);
    fails(['--network', 'a b', 'img'], /invalid network name "a b"/);
  });
});
