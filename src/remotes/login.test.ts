import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { isUnauthenticated } from '../core/errdefs/index.js';
import { checkLogin } from './login.js';

/** A registry's /v2/ behind Basic auth for u:p (127.0.0.1: plain HTTP). */
let server: Server;
let host = '';
const seen: (string | undefined)[] = [];

before(async () => {
  server = createServer((req, res) => {
    seen.push(req.headers.authorization);
    const ok = req.headers.authorization === `Basic ${Buffer.from('u:p').toString('base64')}`;
    if (req.url !== '/v2/') {
      res.writeHead(404).end();
    } else if (ok) {
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    } else {
      res
        .writeHead(401, {
          'www-authenticate': 'Basic realm="test"',
          'content-type': 'application/json',
        })
        .end(
          JSON.stringify({
            errors: [{ code: 'UNAUTHORIZED', message: 'authentication required' }],
          }),
        );
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
});
after(() => server.close());

describe('checkLogin', () => {
  it('answers the Basic challenge with the credentials', async () => {
    seen.length = 0;
    await checkLogin(host, { username: 'u', secret: 'p' });
    assert.deepEqual(seen, [undefined, `Basic ${Buffer.from('u:p').toString('base64')}`]);
  });

  it('fails in one line naming the registry and the status', async () => {
    await assert.rejects(checkLogin(host, { username: 'u', secret: 'wrong' }), (err: Error) => {
      assert.ok(isUnauthenticated(err), String(err));
      assert.equal(
        err.message,
        `login to ${host} failed: 401 Unauthorized: UNAUTHORIZED: authentication required (GET http://${host}/v2/)`,
      );
      return true;
    });
  });

  it('names an unreachable registry', async () => {
    await assert.rejects(checkLogin('127.0.0.1:1', { username: 'u', secret: 'p' }), {
      message: /^login to 127\.0\.0\.1:1 failed: .*ECONNREFUSED/,
    });
  });
});
