// dist/berth/berth.js (scripts/bundle-cli.mjs copies this file there): runs
// berth from dist/berth/berth.script.js, the bundle, compiled with V8's code
// cache (dist/berth/berth.cache, or berth-local.cache): node 20 caches no code for ES modules or
// require(), and compiling the bundle costs more than node's own start. A
// cache V8 does not accept (another node, other V8 flags) is ignored: the
// script is then compiled from source, slower, same behaviour.
//
// CommonJS (dist/berth/package.json), no ES module loader: it costs ~3 ms.
// bin/berth requires this file; `node dist/berth/berth.js …` runs it too
// (the argv berth gives itself for OCI hooks: commands find bin/ from it).
'use strict';
const { readFileSync } = require('node:fs');
const { createRequire } = require('node:module');
const { join } = require('node:path');
const { pathToFileURL } = require('node:url');
const { Script } = require('node:vm');

const SCRIPT = join(__dirname, 'berth.script.js');
/**
 * Two caches of the one script: V8 deserializes a whole cache, so what
 * never reaches the daemon (help, `version --client`) loads one without the
 * client library and grpc-js (300 kB instead of 1 MB: 2 ms). Picking the
 * wrong one costs time, never behaviour.
 */
const CACHES = {
  daemon: join(__dirname, 'berth.cache'),
  local: join(__dirname, 'berth-local.cache'),
};
const LOCAL_FLAGS = new Set(['--help', '-h', '--version', '--client']);

/** Which cache suits a command line. */
function cacheFor(argv) {
  return argv.length === 0 || argv.some((a) => LOCAL_FLAGS.has(a)) ? CACHES.local : CACHES.daemon;
}

/**
 * Compiles the bundle (with `cachedData` when given) and runs its top level.
 * Returns the Script (scripts/cli-code-cache.mjs calls `createCachedData`)
 * and the bundle's exports (`main` of src/cli/main.ts).
 */
function load(cachedData) {
  // ASCII (bundle-cli.mjs escapes the rest): latin1 is the cheapest read.
  const source = readFileSync(SCRIPT, 'latin1');
  const script = new Script(source, { filename: SCRIPT, cachedData });
  const module = { exports: {} };
  script.runInThisContext()(module, createRequire(SCRIPT), pathToFileURL(SCRIPT).href);
  return { script, exports: module.exports };
}

/** Runs berth with this process's arguments, then exits with its code. */
function run() {
  const argv = process.argv.slice(2);
  let cachedData;
  try {
    cachedData = readFileSync(cacheFor(argv));
  } catch {
    // a build without it: compile from source
  }
  const { exports } = load(cachedData);
  exports
    .main(argv, process, process.env, [process.execPath, __filename])
    // Exit now rather than when every handle has closed: results are written
    // (stdout and stderr are synchronous for files, pipes and terminals on Linux).
    .then((code) => process.exit(code));
}

module.exports = { load, run, SCRIPT, CACHES };
if (require.main === module) run();
