// dist/berth/berth.js (scripts/bundle-cli.mjs copies this file there): runs
// berth from dist/berth/berth.script.js, the bundle, compiled with a V8 code
// cache: node 20 caches no code for ES modules or require(), and compiling
// the bundle costs more than node's own start. A cache V8 does not accept
// (another node, other V8 flags, a damaged file) is ignored: the script is
// then compiled from source, slower, same behaviour.
//
// Which cache: V8 deserializes a whole cache, and compiles lazily what it
// does not hold, so the best cache holds what this one command runs and
// little else.
// - Made by the build (scripts/cli-code-cache.mjs, after warm-up runs
//   against a stand-in daemon): berth-local.cache for what never reaches the
//   daemon (help, `version --client`: no client library, no grpc-js),
//   berth-ps.cache for `ps`, berth.cache for the other read-only commands.
// - Made by berth itself for the other commands (run, rm, pull, …): the
//   first time a command succeeds, berth writes its code cache (berth.cache
//   plus what the command compiled, ~1.2 MB) to the user's cache directory
//   ($XDG_CACHE_HOME or ~/.cache, berth/code-cache/<command>-<build id>.cache;
//   the 2 newest builds' of each command kept), and later runs of that
//   command load it. One cache per command, not one for all: V8
//   deserializes a whole cache, ~3 ms more for each 0.5 MB. The build id is
//   a hash of the script (berth.id): a cache of another build is never
//   offered to V8 (V8's own check compares the source's length, not its
//   text). Only the user's own files are read (a cache is code), and only
//   into a directory of the user's own are they written.
// Picking the wrong cache costs time, never behaviour; a cache that cannot
// be read or written is skipped.
//
// CommonJS (dist/berth/package.json), no ES module loader: it costs ~3 ms.
// bin/berth requires this file; `node dist/berth/berth.js …` runs it too
// (the argv berth gives itself for OCI hooks: commands find bin/ from it).
'use strict';
const {
  closeSync,
  fstatSync,
  mkdirSync,
  openSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
} = require('node:fs');
const { createRequire } = require('node:module');
const { join } = require('node:path');
const { pathToFileURL } = require('node:url');
const { Script } = require('node:vm');

const SCRIPT = join(__dirname, 'berth.script.js');
/** The build's caches (scripts/cli-code-cache.mjs makes one per key). */
const CACHES = {
  daemon: join(__dirname, 'berth.cache'),
  local: join(__dirname, 'berth-local.cache'),
  ps: join(__dirname, 'berth-ps.cache'),
};
/** The script's build id (a hash of it), which names the caches berth makes. */
const BUILD_ID = join(__dirname, 'berth.id');
const LOCAL_FLAGS = new Set(['--help', '-h', '--version', '--client']);
/** Global flags that take a value (src/cli/globals.ts), to find the command after them. */
const VALUE_FLAGS = new Set([
  '-a',
  '--address',
  '-n',
  '--namespace',
  '--data-root',
  '--cni-path',
  '--cni-netconfpath',
  '--hosts-dir',
]);
/** Words that start a two-word command (`image ls`, `container run`). */
const GROUPS = new Set(['container', 'image', 'namespace', 'network', 'system']);
const PS = new Set(['ps', 'container-ls', 'container-list', 'container-ps']);
/** Commands berth.cache was warmed with (scripts/cli-code-cache.mjs): no cache of their own. */
const WARMED = new Set(['version', 'images', 'inspect']);

/** The command words of a command line, joined by '-' (`ps`, `image-ls`); '' for none. */
function commandOf(argv) {
  const words = [];
  for (let i = 0; i < argv.length && words.length < 2; i++) {
    const a = argv[i];
    if (a === '--') break;
    if (a.startsWith('-')) {
      if (words.length > 0) break;
      if (VALUE_FLAGS.has(a)) i++;
      continue;
    }
    if (!/^[a-z][a-z0-9-]*$/.test(a)) break;
    words.push(a);
    if (!GROUPS.has(a)) break;
  }
  return words.join('-');
}

/** Which of the build's caches suits a command line. */
function cacheFor(argv) {
  if (argv.length === 0 || argv.some((a) => LOCAL_FLAGS.has(a))) return CACHES.local;
  return PS.has(commandOf(argv)) ? CACHES.ps : CACHES.daemon;
}

/** berth's own code caches: $XDG_CACHE_HOME/berth/code-cache, or ~/.cache/…; undefined without either. */
function userCacheDir(env) {
  const base = env.XDG_CACHE_HOME || (env.HOME ? join(env.HOME, '.cache') : '');
  return base.startsWith('/') ? join(base, 'berth', 'code-cache') : undefined;
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

function readOrUndefined(path) {
  try {
    return readFileSync(path);
  } catch {
    return undefined;
  }
}

/**
 * berth's own cache for this command line: undefined when a cache of the
 * build's suits it (local, ps, the commands berth.cache was warmed with),
 * there is no command word, no cache directory or no build id.
 */
function userCacheFor(argv, env) {
  const command = commandOf(argv);
  if (command === '' || WARMED.has(command) || cacheFor(argv) !== CACHES.daemon) return undefined;
  const dir = userCacheDir(env);
  const id = readOrUndefined(BUILD_ID)?.toString('latin1').trim();
  if (dir === undefined || !id || !/^[0-9a-f]+$/.test(id)) return undefined;
  return { dir, command, path: join(dir, `${command}-${id}.cache`) };
}

/**
 * A cache file of berth's (scripts/code-cache-file.cjs): V8's data, or
 * undefined when missing, malformed or damaged, or not this user's own: a
 * cache is code, and root running berth with another user's HOME must not
 * run theirs.
 */
function readUserCache(path) {
  let fd;
  try {
    fd = openSync(path, 'r');
  } catch {
    return undefined;
  }
  try {
    if (!ownOnly(fstatSync(fd))) return undefined;
    return cacheFile().unseal(readFileSync(fd));
  } catch {
    return undefined;
  } finally {
    closeSync(fd);
  }
}

/** The file is this process's user's, and nobody else may write it. */
function ownOnly(st) {
  return st.uid === process.geteuid() && (st.mode & 0o022) === 0;
}

/** The cache file format, loaded only by commands that read or write a cache of their own. */
function cacheFile() {
  return require('./code-cache-file.cjs');
}

/** How many builds' caches of a command are kept (several checkouts may take turns). */
const KEEP_BUILDS = 2;

/** Writes the command's cache (atomically), dropping its oldest builds' caches; best effort. */
function saveUserCache(user, script) {
  try {
    mkdirSync(user.dir, { recursive: true, mode: 0o700 });
    if (!ownOnly(statSync(user.dir))) return;
    const { seal, writeWhole } = cacheFile();
    if (!writeWhole(user.path, seal(script.createCachedData()), 0o600)) return;
    const prefix = `${user.command}-`;
    const builds = readdirSync(user.dir)
      .filter((n) => n.startsWith(prefix) && /^[0-9a-f]+\.cache$/.test(n.slice(prefix.length)))
      .map((n) => ({ path: join(user.dir, n), mtime: statSync(join(user.dir, n)).mtimeMs }))
      .sort((a, b) => b.mtime - a.mtime);
    for (const old of builds.slice(KEEP_BUILDS)) rmSync(old.path, { force: true });
  } catch {
    // read-only or full: the next run compiles again
  }
}

/** Runs berth with this process's arguments, then exits with its code. */
function run() {
  const argv = process.argv.slice(2);
  const user = userCacheFor(argv, process.env);
  const own = user && readUserCache(user.path);
  const { script, exports } = load(own ?? readOrUndefined(cacheFor(argv)));
  exports.main(argv, process, process.env, [process.execPath, __filename]).then((code) => {
    // Output is written (stdout and stderr are synchronous for files, pipes
    // and terminals on Linux); a cache costs ~15 ms, once per command.
    if (user !== undefined && code === 0 && (own === undefined || script.cachedDataRejected)) {
      saveUserCache(user, script);
    }
    // Exit now rather than when every handle has closed.
    process.exit(code);
  });
}

module.exports = {
  load,
  run,
  commandOf,
  cacheFor,
  userCacheFor,
  readUserCache,
  saveUserCache,
  SCRIPT,
  CACHES,
};
if (require.main === module) run();
