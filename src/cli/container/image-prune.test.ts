import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isDangling } from './image-prune.js';

describe('image prune', () => {
  it('calls an image dangling when no tag names it', () => {
    assert.ok(isDangling('docker.io/library/busybox@sha256:0123'));
    assert.ok(isDangling(`sha256:${'a'.repeat(64)}`));
    assert.ok(!isDangling('docker.io/library/busybox:latest'));
    assert.ok(!isDangling('127.0.0.1:5000/x/y:v1'));
  });
});
