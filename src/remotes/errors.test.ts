import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { kindOf } from '../core/errdefs/index.js';
import { kindOfStatus, registryErrorText, statusErrorOf, transportError } from './errors.js';

describe('registry errors', () => {
  it('map statuses to the core kinds', () => {
    assert.deepEqual([401, 403, 404, 429, 500, 503, 408, 409, 416, 400, 418].map(kindOfStatus), [
      'unauthenticated',
      'permission_denied',
      'not_found',
      'unavailable',
      'unavailable',
      'unavailable',
      'unavailable',
      'conflict',
      'out_of_range',
      'invalid_argument',
      'unknown',
    ]);
  });

  it("quote the registry's error codes, or a trimmed text body", () => {
    assert.equal(
      registryErrorText(
        '{"errors":[{"code":"DENIED","message":"requested access to the resource is denied"},{"code":"X"}]}',
      ),
      'DENIED: requested access to the resource is denied; X',
    );
    assert.equal(
      registryErrorText('<html>\n  Bad   gateway\n</html>'),
      '<html> Bad gateway </html>',
    );
    assert.equal(registryErrorText(''), '');
  });

  it('name the operation, the request and the reason', () => {
    const u = new URL('http://127.0.0.1:5000/v2/library/busybox/manifests/latest');
    const e = statusErrorOf(
      'pull 127.0.0.1:5000/library/busybox:latest',
      'GET',
      u,
      401,
      '{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}',
    );
    assert.equal(kindOf(e), 'unauthenticated');
    assert.equal(
      e.message,
      'pull 127.0.0.1:5000/library/busybox:latest: GET http://127.0.0.1:5000/v2/library/busybox/manifests/latest: 401 Unauthorized: UNAUTHORIZED: authentication required',
    );
    const t = transportError(
      'push x',
      'PUT',
      u,
      Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5000'), { code: 'ECONNREFUSED' }),
    );
    assert.equal(kindOf(t), 'unavailable');
    assert.match(
      t.message,
      /^push x: PUT http:\/\/127\.0\.0\.1:5000\/v2\/.*: connect ECONNREFUSED/,
    );
  });
});
