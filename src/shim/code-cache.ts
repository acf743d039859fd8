/**
 * The daemon's code cache, trained: node compiles a function when it first
 * runs, and the code cache made at build time (scripts/bundle-shim.mjs) holds
 * only what `-v` runs. A daemon whose first container went through its whole
 * life (Create, Start, exit, Delete) has compiled what every later daemon
 * needs, so it emits {@link TRAINED_EVENT} once; the wrapper that loaded the
 * bundle (dist/containerd-shim-berth-v1.cjs, scripts/shim-start.cjs) writes the
 * cache then, beside the script, and later daemons (the spare berthd keeps,
 * above all) load it: about 15–20 ms less CPU in a new group's first create.
 * Without that wrapper (tests, tsx) nothing listens and nothing happens.
 */
export const TRAINED_EVENT = 'berth-shim:trained';

/** Where the wrapper says which cache it compiled with: 'trained', 'build' or 'none'. */
export const CODE_CACHE_KEY = Symbol.for('berth.shim.codeCache');

/** The cache this process was compiled with; 'unknown' without the wrapper. */
export function codeCacheUsed(): string {
  const v = (globalThis as Record<symbol, unknown>)[CODE_CACHE_KEY];
  return typeof v === 'string' ? v : 'unknown';
}

/** How long after the Delete's answer: off the request path, after the deferred runc delete. */
const AFTER_MS = 200;

let lifeDone = false;
let emitted = false;

function emit(): void {
  if (emitted) return;
  emitted = true;
  (process as NodeJS.EventEmitter).emit(TRAINED_EVENT);
}

/** Says, once per process, that a container's whole life has run. */
export function containerLifeDone(): void {
  if (lifeDone) return;
  lifeDone = true;
  setTimeout(emit, AFTER_MS).unref();
}

/** At the daemon's exit (often right after its only container's Delete): emits if due and not yet done. */
export function beforeExit(): void {
  if (lifeDone) emit();
}
