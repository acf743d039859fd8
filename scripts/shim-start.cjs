// dist/containerd-shim-berth-v1.cjs (scripts/bundle-shim.mjs copies this file there): runs
// berth's shim from dist/containerd-shim-berth-v1.script.js, the bundle of src/shim/main.ts,
// compiled with V8's code cache (dist/containerd-shim-berth-v1.cache), as dist/berth/berth.js
// runs the CLI: node 20 caches no code for ES modules or require(), and containerd runs the
// shim binary for every `start` and `delete`. A cache V8 does not accept (another node, other
// V8 flags) is ignored: the script is then compiled from source, slower, same behaviour.
//
// The shim's `start` re-runs this file (process.argv[1]) with node's flags (process.execArgv)
// to start the group's daemon, so the daemon loads the same way.
//
// The trained cache: a daemon that loaded without it emits TRAINED_EVENT once its first
// container went through its whole life (src/shim/code-cache.ts); this file then writes the
// cache of everything compiled so far beside the script, named for the script's size and
// mtime (a rebuilt script never meets an old cache; the build removes old ones), and every
// later daemon loads that one instead. Where the directory is not writable there is none.
'use strict';
const { readFileSync, statSync, writeFileSync } = require('node:fs');
const { createRequire } = require('node:module');
const { join } = require('node:path');
const { pathToFileURL } = require('node:url');
const { Script } = require('node:vm');
// The cache file format (a CRC-32 before V8's data), shared with the CLI; beside this file.
const { seal, unseal, writeWhole } = require('./code-cache-file.cjs');

const NAME = 'containerd-shim-berth-v1';
const SCRIPT = join(__dirname, `${NAME}.script.js`);
const CACHE = join(__dirname, `${NAME}.cache`);
/** src/shim/code-cache.ts's TRAINED_EVENT and CODE_CACHE_KEY. */
const TRAINED_EVENT = 'berth-shim:trained';
const CODE_CACHE_KEY = Symbol.for('berth.shim.codeCache');

function readOrNothing(path) {
  try {
    return path === undefined ? undefined : readFileSync(path);
  } catch {
    return undefined;
  }
}

/** The trained cache of the script as it is now (undefined if the script cannot be stat'ed). */
function trainedPath() {
  try {
    const st = statSync(SCRIPT);
    return join(__dirname, `${NAME}.trained-${st.size}-${Math.floor(st.mtimeMs)}.cache`);
  } catch {
    return undefined;
  }
}

/** Runs the compiled bundle's top level, which runs the shim on process.argv (src/shim/main.ts). */
function execute(script) {
  const module = { exports: {} };
  script.runInThisContext()(module, createRequire(SCRIPT), pathToFileURL(SCRIPT).href);
}

/**
 * A daemon (serving a group, or a spare), not a short command: `start` and `delete` come
 * last on containerd's command lines (and berthd's), `-v` alone. Only daemons take the
 * trained cache; a command would pay for reading the daemon's code and use none of it.
 */
function isDaemon(argv) {
  const last = argv.at(-1);
  return last !== 'start' && last !== 'delete' && !argv.includes('-v');
}

function run() {
  // ASCII (bundle-shim.mjs escapes the rest): latin1 is the cheapest read.
  const source = readFileSync(SCRIPT, 'latin1');
  const trainedFile = isDaemon(process.argv.slice(2)) ? trainedPath() : undefined;
  const trained = unseal(readOrNothing(trainedFile));
  let script;
  let used = 'none';
  if (trained !== undefined) {
    script = new Script(source, { filename: SCRIPT, cachedData: trained });
    if (script.cachedDataRejected) script = undefined;
    else used = 'trained';
  }
  if (script === undefined) {
    const cachedData = unseal(readOrNothing(CACHE));
    script = new Script(source, { filename: SCRIPT, cachedData });
    if (cachedData !== undefined && !script.cachedDataRejected) used = 'build';
    const compiled = script;
    if (trainedFile !== undefined) {
      process.once(TRAINED_EVENT, () =>
        writeWhole(trainedFile, seal(compiled.createCachedData()), 0o644),
      );
    }
  }
  // Which cache this process runs with (the daemon logs it).
  globalThis[CODE_CACHE_KEY] = used;
  execute(script);
  // The build (scripts/bundle-shim.mjs) runs `bin/containerd-shim-berth-v1 -v` with this set,
  // so the cache is made by node with the wrapper's own flags (V8 rejects a cache made with others).
  const out = process.env.BERTH_SHIM_WRITE_CODE_CACHE;
  if (out) writeFileSync(out, seal(script.createCachedData()));
}

module.exports = { SCRIPT, CACHE, TRAINED_EVENT, CODE_CACHE_KEY };
if (require.main === module) run();
