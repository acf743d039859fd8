import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isUnavailable } from './errors.js';
import { listContainersAndTasks, unixSocketPath } from './quick-list.js';

describe('quick list', () => {
  it('reads unix socket addresses, and no other scheme', () => {
    assert.equal(unixSocketPath('/run/berth/berth.sock'), '/run/berth/berth.sock');
    assert.equal(unixSocketPath('unix:///run/x.sock'), '/run/x.sock');
    assert.equal(unixSocketPath('unix:/run/x.sock'), '/run/x.sock');
    assert.equal(unixSocketPath('tcp://127.0.0.1:1'), undefined);
  });

  it('fails unavailable at once when nothing listens', async () => {
    await assert.rejects(
      listContainersAndTasks('/nonexistent/berth-quick.sock', 'default'),
      (err) => {
        assert.ok(isUnavailable(err));
        assert.match(
          (err as Error).message,
          /^cannot reach the daemon at \/nonexistent\/berth-quick\.sock: connect ENOENT/,
        );
        return true;
      },
    );
  });
});
