import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isFailedPrecondition, isNotFound } from '../core/errdefs/predicates.js';
import { checkOperation, Process } from './process.js';

describe('process states', () => {
  it('allows what the Go shim allows', () => {
    checkOperation('created', 'start', true);
    checkOperation('created', 'delete', true);
    checkOperation('running', 'kill', true);
    checkOperation('running', 'pause', true);
    checkOperation('paused', 'resume', true);
    checkOperation('stopped', 'delete', false);
    checkOperation('stopped', 'kill', true);
  });

  it('refuses wrong states with the Go shim words, failed_precondition', () => {
    const cases: [Parameters<typeof checkOperation>, RegExp][] = [
      [['running', 'start', true], /^cannot start a running process/],
      [['running', 'delete', true], /^cannot delete a running process/],
      [['paused', 'delete', true], /^cannot delete a paused process/],
      [['stopped', 'start', false], /^cannot start a stopped process/],
      [['stopped', 'exec', true], /^cannot exec in a stopped state/],
      [['paused', 'pause', true], /^cannot pause a paused container/],
      [['running', 'resume', true], /^cannot resume a running process/],
      [['stopped', 'pause', true], /^cannot pause a stopped container/],
    ];
    for (const [args, re] of cases) {
      assert.throws(
        () => checkOperation(...args),
        (err: Error) => re.test(err.message) && isFailedPrecondition(err),
        args.join(' '),
      );
    }
  });

  it('kill and delete of a deleted process are not_found', () => {
    assert.throws(() => checkOperation('deleted', 'kill', true), isNotFound);
    assert.throws(() => checkOperation('deleted', 'delete', true), isNotFound);
  });

  it('an exec cannot be paused itself', () => {
    assert.throws(() => checkOperation('running', 'pause', false), isFailedPrecondition);
  });

  it('keeps the exit for late waiters, once', async () => {
    const p = new Process('c1', true, { stdin: '', stdout: '', stderr: '', terminal: false });
    p.status = 'running';
    const at = new Date(1_700_000_000_000);
    p.setExited(137, at);
    p.setExited(0, new Date());
    await p.wait();
    assert.equal(p.status, 'stopped');
    assert.equal(p.exitStatus, 137);
    assert.equal(p.exitedAt, at);
  });

  it('a wait aborts with its signal', async () => {
    const p = new Process('e1', false, { stdin: '', stdout: '', stderr: '', terminal: false });
    const ac = new AbortController();
    const w = p.wait(ac.signal);
    ac.abort(new Error('gone'));
    await assert.rejects(w, /gone/);
  });
});
