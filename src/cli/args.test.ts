import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ArgsError, bool, int, list, parseArgs, str } from './args.js';
import type { FlagSpec } from './command.js';

const SPECS: FlagSpec[] = [
  { name: 'detach', short: 'd', type: 'bool', help: '' },
  { name: 'interactive', short: 'i', type: 'bool', help: '' },
  { name: 'tty', short: 't', type: 'bool', help: '' },
  { name: 'name', type: 'string', help: '' },
  { name: 'user', short: 'u', type: 'string', help: '' },
  { name: 'env', short: 'e', type: 'list', help: '' },
  { name: 'last', short: 'n', type: 'int', help: '', default: -1 },
];

describe('parseArgs', () => {
  it('reads combined short booleans, and a value flag ending a cluster', () => {
    const { flags, args } = parseArgs(['-dit', '-uroot', 'img'], SPECS);
    assert.equal(bool(flags, 'detach'), true);
    assert.equal(bool(flags, 'interactive'), true);
    assert.equal(bool(flags, 'tty'), true);
    assert.equal(str(flags, 'user'), 'root');
    assert.deepEqual(args, ['img']);
    const cluster = parseArgs(['-itu', 'nobody'], SPECS);
    assert.equal(str(cluster.flags, 'user'), 'nobody');
    assert.equal(bool(cluster.flags, 'tty'), true);
  });

  it('reads --x=y, --x y, -x=y and --bool=false', () => {
    const { flags } = parseArgs(
      ['--name=web', '--user', '1000', '-e=A=1', '--tty=false', '-d'],
      SPECS,
    );
    assert.equal(str(flags, 'name'), 'web');
    assert.equal(str(flags, 'user'), '1000');
    assert.deepEqual(list(flags, 'env'), ['A=1']);
    assert.equal(bool(flags, 'tty'), false);
    assert.equal(bool(flags, 'detach'), true);
  });

  it('collects list flags in order, and defaults unset ones', () => {
    const { flags } = parseArgs(['-e', 'A=1', '--env', 'B=2', '-eC=3'], SPECS);
    assert.deepEqual(list(flags, 'env'), ['A=1', 'B=2', 'C=3']);
    assert.equal(int(flags, 'last'), -1);
    assert.equal(bool(flags, 'detach'), false);
    assert.equal(str(flags, 'name'), undefined);
    assert.deepEqual(list(parseArgs([], SPECS).flags, 'env'), []);
  });

  it('reads ints, and refuses what is not one', () => {
    assert.equal(int(parseArgs(['-n', '3'], SPECS).flags, 'last'), 3);
    assert.equal(int(parseArgs(['--last=-2'], SPECS).flags, 'last'), -2);
    assert.throws(() => parseArgs(['-n', 'x'], SPECS), /invalid argument "x" for "-n" flag/);
  });

  it('ends the flags at --', () => {
    const { flags, args } = parseArgs(['-d', '--', '-i', '--name', 'x'], SPECS);
    assert.equal(bool(flags, 'interactive'), false);
    assert.deepEqual(args, ['-i', '--name', 'x']);
  });

  it('with stopAtPositional, leaves everything after the first positional to it', () => {
    const { flags, args } = parseArgs(['-d', 'img', 'ls', '-l', '--name', 'x'], SPECS, true);
    assert.equal(bool(flags, 'detach'), true);
    assert.equal(str(flags, 'name'), undefined);
    assert.deepEqual(args, ['img', 'ls', '-l', '--name', 'x']);
    // Without it, flags after positionals are still flags (pflag's interspersed mode).
    const mixed = parseArgs(['img', '--name', 'x'], SPECS);
    assert.deepEqual(mixed.args, ['img']);
    assert.equal(str(mixed.flags, 'name'), 'x');
  });

  it('fails on unknown flags, missing values and bad booleans with pflag messages', () => {
    assert.throws(
      () => parseArgs(['--nope'], SPECS),
      (e: unknown) => {
        assert.ok(e instanceof ArgsError);
        assert.equal(e.message, 'unknown flag: --nope');
        return true;
      },
    );
    assert.throws(() => parseArgs(['-dx'], SPECS), /unknown shorthand flag: 'x' in -dx/);
    assert.throws(() => parseArgs(['--name'], SPECS), /flag needs an argument: --name/);
    assert.throws(() => parseArgs(['-u'], SPECS), /flag needs an argument: -u/);
    assert.throws(
      () => parseArgs(['--tty=maybe'], SPECS),
      /invalid argument "maybe" for "--tty" flag/,
    );
  });

  it('takes a lone "-" as a positional argument', () => {
    assert.deepEqual(parseArgs(['-'], SPECS).args, ['-']);
  });
});
