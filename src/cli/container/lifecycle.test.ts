import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { unknown } from '../../core/errdefs/index.js';
import { startError } from './lifecycle.js';

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
