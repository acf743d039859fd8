import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { status } from '@grpc/grpc-js';
import { StatusCode } from '../core/errdefs/index.js';

describe('grpc status codes', () => {
  it("are the shared table's numbers under the same names", () => {
    const names = Object.keys(StatusCode);
    for (const name of names) {
      assert.equal(
        status[name as keyof typeof status],
        StatusCode[name as keyof typeof StatusCode],
        name,
      );
    }
    const grpcNames = Object.keys(status).filter((k) => Number.isNaN(Number(k)));
    assert.deepEqual(grpcNames.sort(), names.sort());
  });
});
