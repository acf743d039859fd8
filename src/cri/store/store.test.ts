import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { isAlreadyExists, isInvalidArgument, isNotFound } from '../../core/errdefs/index.js';
import { NameIndex } from './name-index.js';
import { TruncIndex } from './truncindex.js';

describe('TruncIndex', () => {
  const a = `abc${'0'.repeat(61)}`;
  const b = `abd${'1'.repeat(61)}`;
  const c = `f${'2'.repeat(63)}`;

  test('answers the one id a unique prefix names', () => {
    const ix = new TruncIndex();
    for (const id of [c, a, b]) ix.add(id);
    assert.equal(ix.get('abc'), a);
    assert.equal(ix.get('abd1'), b);
    assert.equal(ix.get('f'), c);
    assert.equal(ix.get(a), a);
    assert.equal(ix.size, 3);
  });

  test('an ambiguous prefix is invalid_argument, an unknown or empty one not_found', () => {
    const ix = new TruncIndex();
    ix.add(a);
    ix.add(b);
    assert.throws(() => ix.get('ab'), isInvalidArgument);
    assert.throws(() => ix.get('e'), isNotFound);
    assert.throws(() => ix.get(''), isNotFound);
  });

  test('a full id that prefixes another still names itself', () => {
    const ix = new TruncIndex();
    ix.add('abc');
    ix.add('abcd');
    assert.equal(ix.get('abc'), 'abc');
    assert.throws(() => ix.get('ab'), isInvalidArgument);
  });

  test('add twice is already_exists; delete forgets, and deleting a missing id is fine', () => {
    const ix = new TruncIndex();
    ix.add(a);
    assert.throws(() => ix.add(a), isAlreadyExists);
    assert.throws(() => ix.add('has space'), isInvalidArgument);
    ix.delete(a);
    ix.delete(a);
    assert.equal(ix.has(a), false);
    assert.throws(() => ix.get('abc'), isNotFound);
  });
});

describe('NameIndex', () => {
  test('a name belongs to one key until released', () => {
    const ix = new NameIndex();
    ix.reserve('web_ns_uid_1', 'id1');
    ix.reserve('web_ns_uid_1', 'id1');
    assert.throws(
      () => ix.reserve('web_ns_uid_1', 'id2'),
      (err: Error) => isAlreadyExists(err) && err.message.includes('is reserved for "id1"'),
    );
    assert.throws(() => ix.reserve('other', 'id1'), isAlreadyExists);
    assert.equal(ix.get('web_ns_uid_1'), 'id1');
    ix.releaseByKey('id1');
    assert.equal(ix.get('web_ns_uid_1'), undefined);
    ix.reserve('web_ns_uid_1', 'id2');
    ix.releaseByName('web_ns_uid_1');
    ix.reserve('other', 'id2');
    assert.throws(() => ix.reserve('', 'k'), isInvalidArgument);
  });
});
