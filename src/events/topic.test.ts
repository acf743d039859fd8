import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isInvalidArgument } from '../core/errdefs/index.js';
import { validateEnvelope, validateTopic } from './topic.js';

describe('validateTopic', () => {
  it("accepts containerd's topics", () => {
    for (const t of [
      '/tasks/exit',
      '/namespaces/create',
      '/snapshot/prepare',
      '/a',
      '/a.b-c_d/e',
    ]) {
      assert.doesNotThrow(() => validateTopic(t), t);
    }
  });

  it('refuses what containerd refuses, with its text', () => {
    const cases: [string, RegExp][] = [
      ['', /^envelope topic "": must not be empty$/],
      ['tasks/exit', /^envelope topic "tasks\/exit": must start with '\/'$/],
      ['/', /^envelope topic "\/": must have at least one component$/],
      ['/tasks/', /failed validation on component "": identifier must not be empty$/],
      ['/tasks//exit', /failed validation on component ""/],
      ['/tasks/ex it', /failed validation on component "ex it": identifier "ex it" must match/],
      ['/tasks/-x', /component "-x"/],
      [`/${'a'.repeat(77)}`, /greater than maximum length/],
    ];
    for (const [topic, re] of cases) {
      assert.throws(
        () => validateTopic(topic),
        (e: Error) => isInvalidArgument(e) && re.test(e.message),
        topic,
      );
    }
  });
});

describe('validateEnvelope', () => {
  const event = { typeUrl: 't', value: new Uint8Array() };
  it('checks the namespace and the topic', () => {
    assert.doesNotThrow(() =>
      validateEnvelope({ timestamp: 1n, namespace: 'n', topic: '/t', event }),
    );
    assert.throws(
      () => validateEnvelope({ timestamp: 1n, namespace: '', topic: '/t', event }),
      (e: Error) =>
        isInvalidArgument(e) &&
        e.message === 'event envelope has invalid namespace: identifier must not be empty',
    );
    assert.throws(
      () => validateEnvelope({ timestamp: 1n, namespace: 'a/b', topic: '/t', event }),
      isInvalidArgument,
    );
    assert.throws(
      () => validateEnvelope({ timestamp: 1n, namespace: 'n', topic: 't', event }),
      isInvalidArgument,
    );
  });
});
