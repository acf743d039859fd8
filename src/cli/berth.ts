#!/usr/bin/env node
/**
 * The `berth` executable's entry (bin/berth runs it). Kept tiny: it loads
 * main.ts, which loads a command's module only when that command runs.
 */
import { main } from './main.js';

const code = await main(process.argv.slice(2), process, process.env, [
  process.execPath,
  process.argv[1] as string,
]);
// Exit now rather than when every handle has closed: results are written
// (stdout and stderr are synchronous for files, pipes and terminals on Linux).
process.exit(code);
