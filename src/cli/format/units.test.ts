import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isInvalidArgument } from '../../core/errdefs/index.js';
import { parseFilters } from './filters.js';
import { parseBytes, parseCpus, parseDuration } from './units.js';

function invalid(fn: () => unknown, message: RegExp): void {
  assert.throws(fn, (err: Error) => isInvalidArgument(err) && message.test(err.message));
}

describe('parseFilters', () => {
  it('splits at the first =, lower-cases keys, keeps distinct values in order', () => {
    const f = parseFilters([
      'status=running',
      'label=a=b',
      'name=web',
      'Status=exited',
      'status=running',
      ' name = db ',
    ]);
    assert.deepEqual(
      [...f],
      [
        ['status', ['running', 'exited']],
        ['label', ['a=b']],
        ['name', ['web', 'db']],
      ],
    );
    assert.deepEqual(parseFilters(['label=']).get('label'), ['']);
    assert.equal(parseFilters([]).size, 0);
  });
  it('names a malformed or unaccepted filter', () => {
    invalid(() => parseFilters(['foo']), /^invalid filter "foo"/);
    invalid(() => parseFilters(['=x']), /^invalid filter "=x"/);
    invalid(() => parseFilters(['colour=red'], ['status', 'name']), /^invalid filter "colour"/);
    assert.deepEqual(parseFilters(['name=x'], ['status', 'name']).get('name'), ['x']);
  });
});

describe('parseDuration (Go time.ParseDuration) in milliseconds', () => {
  const cases: [string, number][] = [
    ['10s', 10_000],
    ['1m30s', 90_000],
    ['1.5h', 5_400_000],
    ['300ms', 300],
    ['2h45m', 9_900_000],
    ['-2m', -120_000],
    ['+5s', 5_000],
    ['0', 0],
    ['1500us', 1.5],
    ['1000000ns', 1],
    ['1µs', 0.001],
    ['.5s', 500],
  ];
  for (const [s, ms] of cases) it(`${s} → ${ms}`, () => assert.equal(parseDuration(s), ms));
  it('refuses numbers without units, unknown units and garbage', () => {
    invalid(() => parseDuration('10'), /invalid duration "10": missing unit/);
    invalid(() => parseDuration('10x'), /unknown unit "x"/);
    invalid(() => parseDuration(''), /invalid duration ""/);
    invalid(() => parseDuration('s'), /expected a number/);
    invalid(() => parseDuration('1m-3s'), /invalid duration/);
  });
});

describe('parseBytes (go-units RAMInBytes)', () => {
  const cases: [string, number][] = [
    ['512m', 512 * 1024 ** 2],
    ['512M', 512 * 1024 ** 2],
    ['1g', 1024 ** 3],
    ['1.5G', 1.5 * 1024 ** 3],
    ['100', 100],
    ['100b', 100],
    ['100B', 100],
    ['1k', 1024],
    ['1kb', 1024],
    ['1KiB', 1024],
    ['2t', 2 * 1024 ** 4],
    ['1 m', 1024 ** 2],
    ['0.5k', 512],
    ['1.9', 1],
  ];
  for (const [s, n] of cases) it(`${s} → ${n}`, () => assert.equal(parseBytes(s), n));
  it('refuses bad sizes and suffixes', () => {
    invalid(() => parseBytes('abc'), /invalid size "abc"/);
    invalid(() => parseBytes('12x'), /unknown suffix "x"/);
    invalid(() => parseBytes('1mm'), /unknown suffix "mm"/);
    invalid(() => parseBytes('1kib2'), /invalid size/);
    invalid(() => parseBytes('1bb'), /unknown suffix "bb"/);
    invalid(() => parseBytes('-1m'), /negative/);
    invalid(() => parseBytes(''), /invalid size ""/);
  });
});

describe('parseCpus (docker NanoCPUs, CFS quota per 100ms)', () => {
  it('decimals and fractions', () => {
    assert.deepEqual(parseCpus('1.5'), {
      nanoCpus: 1_500_000_000,
      quota: 150_000,
      period: 100_000,
    });
    assert.deepEqual(parseCpus('0.01'), { nanoCpus: 10_000_000, quota: 1_000, period: 100_000 });
    assert.deepEqual(parseCpus('2'), { nanoCpus: 2_000_000_000, quota: 200_000, period: 100_000 });
    assert.deepEqual(parseCpus('3/2'), parseCpus('1.5'));
    assert.deepEqual(parseCpus('.5'), parseCpus('0.5'));
    assert.deepEqual(parseCpus('5e-1'), parseCpus('0.5'));
    assert.equal(parseCpus('0.000000001').nanoCpus, 1);
    assert.equal(parseCpus('0.000000001').quota, 0);
    assert.equal(parseCpus('0').nanoCpus, 0);
  });
  it('refuses what is not a number, too precise or negative', () => {
    invalid(() => parseCpus('abc'), /invalid cpus "abc": not a number/);
    invalid(() => parseCpus('0.0000000001'), /more precise/);
    invalid(() => parseCpus('1/3'), /more precise/);
    invalid(() => parseCpus('-1'), /negative/);
    invalid(() => parseCpus('1/0'), /not a number/);
  });
});
