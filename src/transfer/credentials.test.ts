import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { canceled, isCanceled } from '../core/errdefs/index.js';
import { nullLogger } from '../core/log/index.js';
import type { StreamMessage, TransferStream } from '../core/transfer/index.js';
import { credentialsFromStream } from './credentials.js';

/** A client end that answers each AuthRequest with `answer`, after `delayMs`. */
function authClient(answer: (host: string) => StreamMessage | undefined, delayMs = 0) {
  const asked: string[] = [];
  const inbox: StreamMessage[] = [];
  let waiting: ((m: StreamMessage | undefined) => void) | undefined;
  const ctl = new AbortController();
  let outstanding = 0;
  let maxOutstanding = 0;
  const stream: TransferStream = {
    id: 'creds-test',
    ended: ctl.signal,
    async send(m) {
      if (m.kind !== 'authRequest') return;
      asked.push(m.host);
      outstanding++;
      maxOutstanding = Math.max(maxOutstanding, outstanding);
      setTimeout(() => {
        outstanding--;
        const a = answer(m.host);
        if (a === undefined) {
          ctl.abort();
          waiting?.(undefined);
          return;
        }
        if (waiting) {
          const w = waiting;
          waiting = undefined;
          w(a);
        } else inbox.push(a);
      }, delayMs);
    },
    recv() {
      if (ctl.signal.aborted) return Promise.reject(canceled('stream "creds-test" has ended'));
      const m = inbox.shift();
      if (m) return Promise.resolve(m);
      return new Promise((resolve, reject) => {
        waiting = (v) =>
          v === undefined ? reject(canceled('stream "creds-test" has ended')) : resolve(v);
      });
    },
    close: () => ctl.abort(),
  };
  return { stream, asked, maxOutstanding: () => maxOutstanding };
}

describe('credentialsFromStream', () => {
  it('maps the AuthTypes (a header passed through whole) and asks one question at a time', async () => {
    const c = authClient((host) => {
      switch (host) {
        case 'creds.test':
          return { kind: 'authResponse', authType: 'credentials', username: 'u', secret: 'p' };
        case 'refresh.test':
          return { kind: 'authResponse', authType: 'refresh', username: 'ignored', secret: 'tok' };
        case 'header.test':
          return { kind: 'authResponse', authType: 'header', username: '', secret: 'Bearer x' };
        default:
          return { kind: 'authResponse', authType: 'none', username: '', secret: '' };
      }
    }, 5);
    const creds = credentialsFromStream(c.stream, 'creds.test/a:1', nullLogger);
    const got = await Promise.all(
      ['creds.test', 'refresh.test', 'header.test', 'none.test'].map((h) => creds(h)),
    );
    assert.deepEqual(got, [
      { username: 'u', secret: 'p' },
      { username: '', secret: 'tok' },
      { username: '', secret: '', header: 'Bearer x' },
      undefined,
    ]);
    assert.deepEqual(c.asked, ['creds.test', 'refresh.test', 'header.test', 'none.test']);
    assert.equal(c.maxOutstanding(), 1, 'the stream carries no ids: one question at a time');
  });

  it('fails the question when the client goes away, and the next one too', async () => {
    const c = authClient(() => undefined);
    const creds = credentialsFromStream(c.stream, 'gone.test/a:1', nullLogger);
    await assert.rejects(creds('gone.test'), isCanceled);
    await assert.rejects(creds('gone.test'), isCanceled);
  });
});
