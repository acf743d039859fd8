import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  ERROR_KINDS,
  KIND_TO_STATUS_CODE,
  kindOfStatusCode,
  notFound,
  STATUS_CODE_TO_KIND,
  StatusCode,
  statusOfError,
  unavailable,
  unknown,
} from './index.js';

describe('status codes', () => {
  it('numbers the 17 canonical codes 0..16', () => {
    assert.deepEqual(
      Object.values(StatusCode).sort((a, b) => a - b),
      Array.from({ length: 17 }, (_, i) => i),
    );
  });

  it('maps every kind to a code and back; only conflict and not_modified collapse', () => {
    for (const kind of ERROR_KINDS) {
      const back = kindOfStatusCode(KIND_TO_STATUS_CODE[kind]);
      if (kind === 'conflict' || kind === 'not_modified') {
        assert.equal(back, 'failed_precondition', kind);
      } else {
        assert.equal(back, kind, kind);
      }
    }
  });

  it('maps every code to a kind, and codes outside the table to unknown', () => {
    for (const code of Object.values(StatusCode)) assert.ok(STATUS_CODE_TO_KIND[code], `${code}`);
    assert.equal(kindOfStatusCode(StatusCode.OK), 'unknown');
    for (const code of [-1, 17, 1.5, Number.NaN]) assert.equal(kindOfStatusCode(code), 'unknown');
  });

  it("appends containerd's class text once", () => {
    assert.deepEqual(statusOfError(notFound('container "x"')), {
      kind: 'not_found',
      code: StatusCode.NOT_FOUND,
      message: 'container "x": not found',
    });
    assert.equal(
      statusOfError(notFound('container "x": not found')).message,
      'container "x": not found',
    );
    assert.equal(statusOfError(unavailable('')).message, 'unavailable');
    assert.deepEqual(statusOfError(unknown('boom')), {
      kind: 'unknown',
      code: StatusCode.UNKNOWN,
      message: 'boom',
    });
    assert.deepEqual(statusOfError('text'), {
      kind: 'unknown',
      code: StatusCode.UNKNOWN,
      message: 'text',
    });
    assert.equal(
      statusOfError(new DOMException('late', 'TimeoutError')).code,
      StatusCode.DEADLINE_EXCEEDED,
    );
  });
});
