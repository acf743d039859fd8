import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { WriteAction, WriteContentRequest } from '../api/containerd/services/content/v1/content.js';
import { serializeWrite } from './content-proxy.js';

test('serializeWrite encodes what the generated decoder reads back, for every data length class', () => {
  for (const size of [0, 1, 127, 128, 16_383, 16_384, 1 << 20, (1 << 21) + 3]) {
    const req: WriteContentRequest = {
      action: WriteAction.WRITE,
      ref: 'layer-sha256:abc',
      total: 5_000_000n,
      expected: `sha256:${'a'.repeat(64)}`,
      offset: 1234n,
      data: randomBytes(size),
      labels: size === 1 ? { 'containerd.io/x': 'y' } : {},
    };
    const wire = serializeWrite(req);
    assert.deepEqual(WriteContentRequest.decode(wire), req, `data of ${size} bytes`);
    assert.equal(wire.length, WriteContentRequest.encode(req).finish().length);
  }
});
