import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CliError } from '../errors.js';
import { NAME_PATTERN, nameConflict, randomName, validateName } from './names.js';

describe('container names', () => {
  it("accepts docker's names and drops one leading slash", () => {
    assert.equal(validateName('web'), 'web');
    assert.equal(validateName('/web'), 'web');
    assert.equal(validateName('a.b_c-1'), 'a.b_c-1');
    assert.equal(validateName('0x'), '0x');
  });

  it('refuses what docker refuses, naming the rule', () => {
    for (const bad of ['', 'a', '_web', '.web', '-web', 'we b', 'web/x', 'wéb', '//web']) {
      assert.throws(
        () => validateName(bad),
        (err: unknown) =>
          err instanceof CliError &&
          err.exitCode === 125 &&
          err.message ===
            `Invalid container name (${bad}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed`,
        bad,
      );
    }
  });

  it("says docker's conflict with the other container's ID", () => {
    assert.match(
      nameConflict('web', 'abc').message,
      /^Conflict\. The container name "\/web" is already in use by container "abc"\./,
    );
  });

  it('makes adjective_surname names that are valid, a digit appended on retries', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 200; i++) {
      const n = randomName();
      assert.match(n, /^[a-z]+_[a-z]+$/);
      assert.ok(NAME_PATTERN.test(n), n);
      seen.add(n);
    }
    assert.ok(seen.size > 50, `only ${seen.size} distinct names in 200`);
    assert.match(randomName(1), /^[a-z]+_[a-z]+\d$/);
  });
});
