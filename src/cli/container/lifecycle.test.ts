import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Client, Event } from '../../client/index.js';
import { notFound, unknown } from '../../core/errdefs/index.js';
import { startError, waitExit } from './lifecycle.js';

describe('start errors', () => {
  it("map to docker's exit codes as runc words them", () => {
    const cases: [string, number][] = [
      [
        'OCI runtime create failed: runc create failed: unable to start container process: exec: "nope": executable file not found in $PATH',
        127,
      ],
      [
        'unable to start container process: exec: "/bin/nope": stat /bin/nope: no such file or directory',
        127,
      ],
      ['unable to start container process: exec: "/etc/passwd": permission denied', 126],
      ['unable to start container process: exec: "/x.bin": exec format error', 126],
      // A missing bind-mount source is berth's failure, not the command's.
      ['error mounting "/gone" to rootfs at "/d": stat /gone: no such file or directory', 125],
      ['cgroup: permission denied', 125],
    ];
    for (const [msg, code] of cases) {
      const err = startError(unknown(msg), 'web');
      assert.equal(err.exitCode, code, msg);
      assert.ok(err.message.startsWith('cannot start container web: '), err.message);
      assert.ok(!err.message.includes('\n'));
    }
  });
});

/** A client whose container `c1` has `task` (undefined: none), publishing `exits` once subscribed; `log` records the calls in order. */
function fakeClient(
  task: { status: string; exitStatus: number; waited?: number } | undefined,
  exits: { containerId: string; id: string; exitStatus: number }[],
  log: string[],
): Client {
  return {
    namespace: 'default',
    subscribe(filters: readonly string[]) {
      log.push(`subscribe ${filters.join(' ')}`);
      return (async function* () {
        for (const e of exits) yield { topic: '/tasks/exit', event: e } as unknown as Event;
      })();
    },
    async loadContainer(id: string) {
      log.push(`load ${id}`);
      return {
        async task() {
          if (task === undefined) throw notFound('no task');
          return {
            status: async () => ({ status: task.status, exitStatus: task.exitStatus }),
            wait: async () => {
              log.push('wait');
              return { exitCode: task.waited ?? -1 };
            },
          };
        },
      };
    },
  } as unknown as Client;
}

describe('waitExit', () => {
  it("waits for a container without a task to be started and its init process's exit", async () => {
    const log: string[] = [];
    const client = fakeClient(
      undefined,
      [
        { containerId: 'c2', id: 'c2', exitStatus: 1 },
        { containerId: 'c1', id: 'exec-1', exitStatus: 2 },
        { containerId: 'c1', id: 'c1', exitStatus: 3 },
      ],
      log,
    );
    assert.equal(await waitExit(client, 'c1'), 3);
    // Subscribed before the task is looked at: no exit is missed.
    assert.deepEqual(log, ['subscribe topic=="/tasks/exit",namespace=="default"', 'load c1']);
  });

  it('answers a stopped task at once and waits for a running one', async () => {
    const stopped: string[] = [];
    assert.equal(
      await waitExit(fakeClient({ status: 'stopped', exitStatus: 7 }, [], stopped), 'c1'),
      7,
    );
    assert.ok(!stopped.includes('wait'));
    const running: string[] = [];
    const client = fakeClient({ status: 'running', exitStatus: 0, waited: 4 }, [], running);
    assert.equal(await waitExit(client, 'c1'), 4);
    assert.ok(running.includes('wait'));
  });

  it('fails in one line when the events end before the task has run', async () => {
    await assert.rejects(waitExit(fakeClient(undefined, [], []), 'c1'), /event stream ended/);
  });
});
