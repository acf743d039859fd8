import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as errdefs from './index.js';
import { BerthError, ERROR_KINDS, type ErrorKind, kindOf, newError } from './index.js';

const FACTORIES: Readonly<
  Record<ErrorKind, (message: string, options?: ErrorOptions) => BerthError>
> = {
  invalid_argument: errdefs.invalidArgument,
  not_found: errdefs.notFound,
  already_exists: errdefs.alreadyExists,
  failed_precondition: errdefs.failedPrecondition,
  conflict: errdefs.conflict,
  not_modified: errdefs.notModified,
  aborted: errdefs.aborted,
  out_of_range: errdefs.outOfRange,
  not_implemented: errdefs.notImplemented,
  internal: errdefs.internal,
  unavailable: errdefs.unavailable,
  data_loss: errdefs.dataLoss,
  unauthenticated: errdefs.unauthenticated,
  permission_denied: errdefs.permissionDenied,
  resource_exhausted: errdefs.resourceExhausted,
  canceled: errdefs.canceled,
  deadline_exceeded: errdefs.deadlineExceeded,
  unknown: errdefs.unknown,
};

const PREDICATES: ReadonlyArray<readonly [ErrorKind, (err: unknown) => boolean]> = [
  ['invalid_argument', errdefs.isInvalidArgument],
  ['not_found', errdefs.isNotFound],
  ['already_exists', errdefs.isAlreadyExists],
  ['failed_precondition', errdefs.isFailedPrecondition],
  ['conflict', errdefs.isConflict],
  ['not_modified', errdefs.isNotModified],
  ['aborted', errdefs.isAborted],
  ['out_of_range', errdefs.isOutOfRange],
  ['not_implemented', errdefs.isNotImplemented],
  ['internal', errdefs.isInternal],
  ['unavailable', errdefs.isUnavailable],
  ['data_loss', errdefs.isDataLoss],
  ['unauthenticated', errdefs.isUnauthenticated],
  ['permission_denied', errdefs.isPermissionDenied],
  ['resource_exhausted', errdefs.isResourceExhausted],
  ['canceled', errdefs.isCanceled],
  ['deadline_exceeded', errdefs.isDeadlineExceeded],
];

describe('errdefs', () => {
  it('lists every kind once', () => {
    assert.equal(ERROR_KINDS.length, 18);
    assert.equal(new Set(ERROR_KINDS).size, ERROR_KINDS.length);
    assert.deepEqual([...ERROR_KINDS].sort(), Object.keys(FACTORIES).sort());
    assert.ok(Object.isFrozen(ERROR_KINDS));
  });

  for (const kind of ERROR_KINDS) {
    it(`builds and recognises ${kind}`, () => {
      const cause = new Error('boom');
      const err = FACTORIES[kind]('thing "x"', { cause });
      assert.ok(err instanceof BerthError);
      assert.ok(err instanceof Error);
      assert.equal(err.kind, kind);
      assert.equal(err.name, 'BerthError');
      assert.equal(err.message, 'thing "x"');
      assert.equal(err.cause, cause);
      assert.equal(kindOf(err), kind);
      assert.equal(errdefs.hasKind(err, kind), true);
      assert.equal(String(err), `thing "x": ${errdefs.describeKind(kind)}`);
      assert.deepEqual(newError(kind, 'thing "x"').kind, kind);
      for (const [other, is] of PREDICATES) {
        assert.equal(is(err), other === kind, `is(${other}) on ${kind}`);
      }
    });
  }

  it('renders messages in containerd shape', () => {
    const table: ReadonlyArray<{ doc: string; err: BerthError; want: string }> = [
      {
        doc: 'subject and kind',
        err: errdefs.notFound('image "docker.io/library/busybox:latest"'),
        want: 'image "docker.io/library/busybox:latest": not found',
      },
      {
        doc: 'subject, reason and kind',
        err: errdefs.invalidArgument('filter "name==": expected value at position 6'),
        want: 'filter "name==": expected value at position 6: invalid argument',
      },
      { doc: 'empty message', err: errdefs.unavailable(''), want: 'unavailable' },
      {
        doc: 'context texts',
        err: errdefs.canceled('pull "x"'),
        want: 'pull "x": context canceled',
      },
    ];
    for (const { doc, err, want } of table) {
      assert.equal(err.toString(), want, doc);
    }
  });

  it('recognises errors from another copy through the brand', () => {
    // What a second copy of the module would produce: same registry symbol,
    // unrelated class.
    class Foreign extends Error {
      readonly kind = 'not_found';
    }
    Object.defineProperty(Foreign.prototype, Symbol.for('berth.errdefs'), { value: true });
    const err = new Foreign('image "x"');
    assert.equal(errdefs.isBerthError(err), true);
    assert.equal(errdefs.isNotFound(err), true);
    assert.equal(err instanceof BerthError, true);
  });

  it('does not recognise look-alikes', () => {
    const table: ReadonlyArray<{ doc: string; value: unknown }> = [
      { doc: 'plain error with kind', value: Object.assign(new Error('x'), { kind: 'not_found' }) },
      { doc: 'plain object', value: { kind: 'not_found', message: 'x' } },
      {
        doc: 'brand with a bogus kind',
        value: Object.assign(Object.create({ [Symbol.for('berth.errdefs')]: true }), {
          kind: 'nope',
        }),
      },
      { doc: 'string', value: 'not_found' },
      { doc: 'null', value: null },
      { doc: 'undefined', value: undefined },
    ];
    for (const { doc, value } of table) {
      assert.equal(errdefs.isBerthError(value), false, doc);
      assert.equal(errdefs.isNotFound(value), false, doc);
      assert.equal(kindOf(value), 'unknown', doc);
      assert.equal(value instanceof BerthError, false, doc);
    }
  });

  it('maps aborts and timeouts', () => {
    const controller = new AbortController();
    controller.abort();
    const reason: unknown = controller.signal.reason;
    assert.equal(kindOf(reason), 'canceled');
    assert.equal(errdefs.isCanceled(reason), true);
    assert.equal(kindOf(Object.assign(new Error('aborted'), { code: 'ABORT_ERR' })), 'canceled');
    assert.equal(kindOf(new DOMException('timed out', 'TimeoutError')), 'deadline_exceeded');
    assert.equal(errdefs.isDeadlineExceeded(new DOMException('timed out', 'TimeoutError')), true);
  });

  it('follows cause chains, outermost kind first', () => {
    const inner = errdefs.notFound('blob "sha256:abc"');
    assert.equal(kindOf(new Error('reading manifest', { cause: inner })), 'not_found');
    assert.equal(
      errdefs.isNotFound(new Error('a', { cause: new Error('b', { cause: inner }) })),
      true,
    );
    assert.equal(kindOf(errdefs.internal('unpack', { cause: inner })), 'internal');
    assert.equal(errdefs.isNotFound(errdefs.internal('unpack', { cause: inner })), false);
    const looped = new Error('loop') as Error & { cause?: unknown };
    looped.cause = looped;
    assert.equal(kindOf(looped), 'unknown');
  });

  it('keeps programmer errors plain', () => {
    assert.equal(kindOf(new TypeError('bad')), 'unknown');
    assert.throws(() => newError('nope' as ErrorKind, 'x'), TypeError);
  });

  it('keeps instanceof exact for subclasses', () => {
    class Sub extends BerthError {}
    assert.equal(new Sub('internal', 'x') instanceof Sub, true);
    assert.equal(errdefs.internal('x') instanceof Sub, false);
  });

  it('exposes kind as an own enumerable property for loggers', () => {
    const err = errdefs.conflict('lease "l1"');
    assert.deepEqual(Object.keys(err), ['kind']);
    assert.equal(JSON.stringify(err), '{"kind":"conflict"}');
  });
});
