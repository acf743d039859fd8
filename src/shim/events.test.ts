import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { TaskExit } from '../api/containerd/events/task.js';
import { encodeEvent, toTimestamp } from './events.js';

describe('shim events', () => {
  it('topics and type URLs as the runc shim sends them', () => {
    const e = encodeEvent('default', 'exit', {
      containerId: 'c1',
      id: 'c1',
      pid: 42,
      exitStatus: 137,
      exitedAt: toTimestamp(new Date(1500)),
    });
    assert.equal(e.topic, '/tasks/exit');
    assert.equal(e.typeUrl, 'containerd.events.TaskExit');
    assert.equal(e.namespace, 'default');
    const back = TaskExit.decode(e.value);
    assert.equal(back.exitStatus, 137);
    assert.deepEqual(back.exitedAt, { seconds: 1n, nanos: 500_000_000 });
    assert.equal(
      encodeEvent('n', 'execStarted', { containerId: 'c', execId: 'e', pid: 1 }).topic,
      '/tasks/exec-started',
    );
  });
});
