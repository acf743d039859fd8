// dist/containerd-shim-berth-v1.cjs (scripts/bundle-shim.mjs copies this file there): runs
// berth's shim from dist/containerd-shim-berth-v1.script.js, the bundle of src/shim/main.ts,
// compiled with V8's code cache (dist/containerd-shim-berth-v1.cache), as dist/berth/berth.js
// runs the CLI: node 20 caches no code for ES modules or require(), and containerd runs the
// shim binary for every `start` and `delete`. A cache V8 does not accept (another node, other
// V8 flags) is ignored: the script is then compiled from source, slower, same behaviour.
//
// The shim's `start` re-runs this file (process.argv[1]) with node's flags (process.execArgv)
// to start the group's daemon, so the daemon loads the same way.
'use strict';
const { readFileSync, writeFileSync } = require('node:fs');
const { createRequire } = require('node:module');
const { join } = require('node:path');
const { pathToFileURL } = require('node:url');
const { Script } = require('node:vm');

const NAME = 'containerd-shim-berth-v1';
const SCRIPT = join(__dirname, `${NAME}.script.js`);
const CACHE = join(__dirname, `${NAME}.cache`);

/**
 * Compiles the bundle (with `cachedData` when given) and runs its top level,
 * which runs the shim on process.argv (src/shim/main.ts). Returns the Script.
 */
function load(cachedData) {
  // ASCII (bundle-shim.mjs escapes the rest): latin1 is the cheapest read.
  const source = readFileSync(SCRIPT, 'latin1');
  const script = new Script(source, { filename: SCRIPT, cachedData });
  const module = { exports: {} };
  script.runInThisContext()(module, createRequire(SCRIPT), pathToFileURL(SCRIPT).href);
  return script;
}

function run() {
  let cachedData;
  try {
    cachedData = readFileSync(CACHE);
  } catch {
    // a build without it: compile from source
  }
  const script = load(cachedData);
  // The build (scripts/bundle-shim.mjs) runs `bin/containerd-shim-berth-v1 -v` with this set,
  // so the cache is made by node with the wrapper's own flags (V8 rejects a cache made with others).
  const out = process.env.BERTH_SHIM_WRITE_CODE_CACHE;
  if (out) writeFileSync(out, script.createCachedData());
}

module.exports = { load, SCRIPT, CACHE };
if (require.main === module) run();
