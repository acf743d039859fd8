// A V8 code cache as berth keeps it on disk: the CLI's own caches (scripts/berth-start.cjs)
// and the shim's (scripts/shim-start.cjs). The build copies this file beside each of them.
//
// Format: a 4-octet little-endian length, that much JSON (`crc32`: of the rest), then V8's
// data. V8 checks a cache's version, flags and source length, not its bytes: damaged data
// can crash it, so nothing that fails the CRC reaches V8.
'use strict';
const { renameSync, unlinkSync, writeFileSync } = require('node:fs');
const { crc32 } = require('node:zlib');

/** V8's data as a cache file's contents. */
function seal(data) {
  const header = Buffer.from(JSON.stringify({ crc32: crc32(data) }));
  const length = Buffer.alloc(4);
  length.writeUInt32LE(header.length, 0);
  return Buffer.concat([length, header, data]);
}

/** V8's data of a cache file's contents; undefined when missing, malformed or damaged. */
function unseal(file) {
  if (file === undefined || file.length < 4) return undefined;
  try {
    const n = file.readUInt32LE(0);
    const header = JSON.parse(file.toString('utf8', 4, 4 + n));
    const data = file.subarray(4 + n);
    return header.crc32 === crc32(data) ? data : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Writes `path` whole or not at all: a new temp file (O_EXCL: never through a link someone
 * left under that name) renamed over it. False, and nothing left, when it could not.
 */
function writeWhole(path, contents, mode) {
  const tmp = `${path}.${process.pid}.tmp`;
  try {
    writeFileSync(tmp, contents, { mode, flag: 'wx' });
    renameSync(tmp, path);
    return true;
  } catch {
    try {
      unlinkSync(tmp);
    } catch {
      // never made
    }
    return false;
  }
}

module.exports = { seal, unseal, writeWhole };
