import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isInvalidArgument } from '../errdefs/index.js';
import { isValidIdentifier, validateIdentifier } from './index.js';

describe('identifiers', () => {
  const valid = ['default', 'a', 'k8s.io', 'moby', 'foo_bar-baz.1', 'A9', 'x'.repeat(76)];
  const invalid: [string, RegExp][] = [
    ['', /must not be empty/],
    ['x'.repeat(77), /greater than maximum length \(76 characters\)/],
    ['-a', /must match/],
    ['a-', /must match/],
    ['a..b', /must match/],
    ['a b', /must match/],
    ['a/b', /must match/],
    ['..', /must match/],
    ['ümlaut', /must match/],
    ['bad name!', /must match/],
  ];

  for (const id of valid) {
    it(`accepts ${JSON.stringify(id.slice(0, 20))}`, () => {
      assert.doesNotThrow(() => validateIdentifier(id));
      assert.equal(isValidIdentifier(id), true);
    });
  }
  for (const [id, re] of invalid) {
    it(`rejects ${JSON.stringify(id.slice(0, 20))}`, () => {
      assert.throws(
        () => validateIdentifier(id),
        (err: unknown) => isInvalidArgument(err) && re.test(String((err as Error).message)),
      );
      assert.equal(isValidIdentifier(id), false);
    });
  }
});
