import type { MethodDefinition, ServiceDefinition } from '@grpc/grpc-js';
import { StatusCode } from '../core/errdefs/index.js';
import type { Logger } from '../core/log/index.js';
import type { OpContext } from '../core/namespaces/index.js';
import type { ServerCall } from './call.js';
import { contextFromMetadata } from './context.js';
import { toGrpcStatus } from './grpc-errors.js';

/**
 * What a service adapter hands the server: the generated definition, and
 * handlers for the methods it implements. Methods without a handler answer
 * UNIMPLEMENTED.
 */
export interface GrpcService {
  /** Full proto name, e.g. `containerd.services.version.v1.Version`. */
  readonly name: string;
  readonly definition: ServiceDefinition;
  /** Namespaced services reject calls without a valid `containerd-namespace`. */
  readonly namespaced: boolean;
  readonly handlers: Readonly<Record<string, Handler>>;
}

export type UnaryHandler<Req, Res> = (ctx: OpContext, req: Req) => Promise<Res> | Res;
export type StreamHandler<Req, Res> = (
  ctx: OpContext,
  req: Req,
  send: (res: Res) => Promise<void>,
) => Promise<void>;

/**
 * A bidirectional stream: requests arrive as an async iterable (ending when
 * the client half-closes), responses go out through `send`, which resolves
 * once the stream can take more (back-pressure). A bidi call keeps its
 * grace period at shutdown; `stopping` (aborted when the server begins to
 * stop) lets a handler end sooner a call that has nothing left to finish.
 */
export type BidiHandler<Req, Res> = (
  ctx: OpContext,
  requests: AsyncIterable<Req>,
  send: (res: Res) => Promise<void>,
  stopping: AbortSignal,
) => Promise<void>;

export type Handler =
  | { kind: 'unary'; fn: UnaryHandler<any, any>; endsAtShutdown?: boolean }
  | { kind: 'server-stream'; fn: StreamHandler<any, any> }
  | { kind: 'bidi'; fn: BidiHandler<any, any> };

export interface UnaryOptions {
  /**
   * The call waits for something that may never come (Tasks.Wait): it ends
   * when the server stops, as server streams do, rather than holding the
   * shutdown for its grace period. Its context's signal aborts then, and the
   * client gets UNAVAILABLE at once.
   */
  endsAtShutdown?: boolean;
}

export function unary<Req, Res>(fn: UnaryHandler<Req, Res>, opts: UnaryOptions = {}): Handler {
  return { kind: 'unary', fn, ...(opts.endsAtShutdown === true && { endsAtShutdown: true }) };
}

export function serverStream<Req, Res>(fn: StreamHandler<Req, Res>): Handler {
  return { kind: 'server-stream', fn };
}

export function bidiStream<Req, Res>(fn: BidiHandler<Req, Res>): Handler {
  return { kind: 'bidi', fn };
}

/** Tracks calls in flight so shutdown can wait for them. */
export interface CallTracker {
  begin(): () => void;
  /** Aborted when the server begins to stop; ends long-lived streams and waits. */
  readonly stopping: AbortSignal;
}

/**
 * What a call that ends at shutdown answers then: grpc-go's Server.Stop
 * (which containerd calls on SIGTERM) closes the connections, and its
 * clients see UNAVAILABLE, the code that says "try again elsewhere or later".
 */
const SHUTTING_DOWN = { code: StatusCode.UNAVAILABLE, message: 'berthd is shutting down' };

type AnyCall = ServerCall<unknown, unknown>;

/** One method of a service as the server dispatches it, by its path. */
export interface Route {
  /** `/<package>.<Service>/<Method>`. */
  readonly path: string;
  readonly definition: MethodDefinition<unknown, unknown>;
  /** Takes over a call whose headers have arrived; answers it in the end. */
  start(call: AnyCall): void;
}

/**
 * Turns a {@link GrpcService} into routes: each call gets an OpContext, a
 * cancellation signal and a child logger, and every error is mapped to a
 * status in one place.
 */
export function routes(svc: GrpcService, log: Logger, tracker: CallTracker): Route[] {
  const out: Route[] = [];
  for (const def of Object.values(svc.definition) as MethodDefinition<unknown, unknown>[]) {
    // Handlers are keyed by the proto method name, e.g. `List`.
    const method = def.path.slice(def.path.lastIndexOf('/') + 1);
    const h = svc.handlers[method];
    const mlog = log.child({ method: def.path });
    let start: (call: AnyCall) => void;
    if (!h) start = unimplemented(def);
    else if (h.kind === 'unary') start = unaryCall(svc, h.fn, mlog, tracker, h.endsAtShutdown);
    else if (h.kind === 'server-stream') start = streamCall(svc, h.fn, mlog, tracker);
    else start = bidiCall(svc, h.fn, mlog, tracker);
    out.push({ path: def.path, definition: def, start });
  }
  return out;
}

function contextOf(
  call: AnyCall,
  namespaced: boolean,
  signal: AbortSignal | (() => AbortSignal),
  log: Logger,
): OpContext {
  return contextFromMetadata((name) => call.metadata(name), { namespaced, signal, log });
}

function unaryCall(
  svc: GrpcService,
  fn: UnaryHandler<unknown, unknown>,
  log: Logger,
  tracker: CallTracker,
  endsAtShutdown = false,
): (call: AnyCall) => void {
  return (call) => {
    call.onRequestsDone = () => {
      const started = process.hrtime.bigint();
      const end = tracker.begin();
      let ended = false;
      let forget = () => {};
      const done = () => {
        if (ended) return;
        ended = true;
        forget();
        end();
        log.trace({ ms: Number(process.hrtime.bigint() - started) / 1e6 }, 'unary call');
      };
      let signal: AbortSignal | (() => AbortSignal) = () => call.signal;
      if (endsAtShutdown) {
        // Answered and no longer counted at once; the handler sees its
        // signal abort and whatever it answers later is dropped.
        signal = AbortSignal.any([call.signal, tracker.stopping]);
        forget = endAtShutdown(call, tracker, done);
      }
      let res: unknown;
      try {
        const req = call.singleRequest();
        res = fn(contextOf(call, svc.namespaced, signal, log), req);
      } catch (err) {
        call.sendStatus(toGrpcStatus(err, log));
        done();
        return;
      }
      if (!(res instanceof Promise)) {
        call.sendUnary(res);
        done();
        return;
      }
      res
        .then(
          (r: unknown) => call.sendUnary(r),
          (err: unknown) => call.sendStatus(toGrpcStatus(err, log)),
        )
        .finally(done);
    };
  };
}

function streamCall(
  svc: GrpcService,
  fn: StreamHandler<unknown, unknown>,
  log: Logger,
  tracker: CallTracker,
): (call: AnyCall) => void {
  // Server streams (Subscribe, Watch) end when the server stops, with UNAVAILABLE.
  return (call) => {
    call.onRequestsDone = () =>
      runStream(svc, call, log, tracker, [tracker.stopping], (ctx, send) =>
        fn(ctx, call.singleRequest(), send),
      );
  };
}

function bidiCall(
  svc: GrpcService,
  fn: BidiHandler<unknown, unknown>,
  log: Logger,
  tracker: CallTracker,
): (call: AnyCall) => void {
  // Unlike server streams, a bidi stream is not ended by shutdown: a
  // Content.Write in flight gets its grace period to commit.
  return (call) =>
    runStream(svc, call, log, tracker, [], (ctx, send) =>
      fn(ctx, call.requests(), send, tracker.stopping),
    );
}

/**
 * Runs a streaming handler: a context whose signal aborts when the client
 * cancels (or any of `alsoAbortOn` does), a `send` with back-pressure, and
 * the call ended with OK or the mapped status when the handler settles.
 */
function runStream(
  svc: GrpcService,
  call: AnyCall,
  log: Logger,
  tracker: CallTracker,
  alsoAbortOn: AbortSignal[],
  run: (ctx: OpContext, send: (res: unknown) => Promise<void>) => Promise<void>,
): void {
  const started = process.hrtime.bigint();
  const end = tracker.begin();
  let ended = false;
  let forget = () => {};
  const done = () => {
    if (ended) return;
    ended = true;
    forget();
    end();
    log.trace({ ms: Number(process.hrtime.bigint() - started) / 1e6 }, 'stream call');
  };
  const signal =
    alsoAbortOn.length > 0 ? AbortSignal.any([call.signal, ...alsoAbortOn]) : call.signal;
  if (alsoAbortOn.includes(tracker.stopping)) forget = endAtShutdown(call, tracker, done);
  const send = async (res: unknown) => {
    if (signal.aborted) throw signal.reason;
    await call.sendMessage(res);
  };
  Promise.resolve()
    .then(() => run(contextOf(call, svc.namespaced, signal, log), send))
    .then(
      () => call.sendStatus({ code: StatusCode.OK, message: '' }),
      (err: unknown) => {
        if (!call.cancelled) call.sendStatus(toGrpcStatus(err, log));
      },
    )
    .finally(done);
}

/**
 * Ends `call` with UNAVAILABLE as soon as the server begins to stop (or at
 * once, if it already has) and counts it as done, so shutdown does not wait
 * for it. Returns the function that forgets the call once it has ended.
 */
function endAtShutdown(call: AnyCall, tracker: CallTracker, done: () => void): () => void {
  const stop = () => {
    call.sendStatus(SHUTTING_DOWN);
    done();
  };
  if (tracker.stopping.aborted) {
    stop();
    return () => {};
  }
  tracker.stopping.addEventListener('abort', stop, { once: true });
  return () => tracker.stopping.removeEventListener('abort', stop);
}

function unimplemented(def: MethodDefinition<unknown, unknown>): (call: AnyCall) => void {
  const status = {
    code: StatusCode.UNIMPLEMENTED,
    message: `${def.path} is not implemented by berth yet`,
  };
  return (call) => {
    if (def.requestStream) call.sendStatus(status);
    else call.onRequestsDone = () => call.sendStatus(status);
  };
}
