import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isInvalidArgument } from '../../core/errdefs/index.js';
import { parseFilters } from './filters.js';

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
