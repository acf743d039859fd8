import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { eventFilters, eventJson, eventLine, rfc3339Nano } from './events.js';

describe('events', () => {
  it("prints Go's RFC3339Nano, trailing zeros dropped", () => {
    assert.equal(rfc3339Nano(1_767_348_000_123_456_789n), '2026-01-02T10:00:00.123456789Z');
    assert.equal(rfc3339Nano(1_767_348_000_120_000_000n), '2026-01-02T10:00:00.12Z');
    assert.equal(rfc3339Nano(1_767_348_000_000_000_000n), '2026-01-02T10:00:00Z');
  });

  it('prints time, topic, namespace and the payload scalars', () => {
    const line = eventLine({
      timestampNanos: 1_767_348_000_000_000_001n,
      topic: '/tasks/start',
      namespace: 'default',
      event: { containerId: 'web', pid: 42, nested: { x: 1 }, empty: '' },
    });
    assert.equal(
      line,
      '2026-01-02T10:00:00.000000001Z /tasks/start default (containerId=web, pid=42)',
    );
  });

  it('writes JSON lines that parse, bigints as numbers', () => {
    const j = JSON.parse(
      eventJson({
        timestampNanos: 5n,
        topic: '/tasks/exit',
        namespace: 'ns',
        type: 'containerd.events.TaskExit',
        event: { exitStatus: 3, pid: 10n },
      }),
    );
    assert.deepEqual(j.event, { exitStatus: 3, pid: 10 });
    assert.equal(j.topic, '/tasks/exit');
  });

  it("turns docker's filters into containerd's: keys AND, values OR, the namespace by default", () => {
    assert.deepEqual(eventFilters([], 'default'), ['namespace=="default"']);
    assert.deepEqual(eventFilters(['type=container', 'event=create', 'event=delete'], 'ns'), [
      'topic~="^/containers/",topic~="/create$",namespace=="ns"',
      'topic~="^/containers/",topic~="/delete$",namespace=="ns"',
    ]);
    assert.deepEqual(eventFilters(['namespace=other', 'container=web'], 'ns'), [
      'namespace=="other",event.containerId=="web"',
    ]);
    assert.deepEqual(eventFilters(['topic~=/tasks/'], 'ns'), ['topic~=/tasks/']);
    assert.throws(() => eventFilters(['colour=red'], 'ns'), /invalid filter 'colour'/);
  });
});
