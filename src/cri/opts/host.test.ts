import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { KNOWN_CAPABILITIES } from './capabilities.js';
import { deviceOf } from './devices.js';
import { hostSpecFacts, realSpecHost } from './host.js';
import { kernelVersionOf } from './platform.js';

describe('the real host', () => {
  test('lstat of /dev/null is the char device 1:3', async () => {
    const st = await realSpecHost.lstat('/dev/null');
    assert.ok(st);
    assert.deepEqual(deviceOf('/dev/null', st)?.type, 'c');
    assert.equal(deviceOf('/dev/null', st)?.major, 1);
    assert.equal(deviceOf('/dev/null', st)?.minor, 3);
  });
  test('missing paths are undefined, directories and symlinks told apart', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'berth-cri-host-'));
    try {
      writeFileSync(join(dir, 'f'), 'x');
      symlinkSync('f', join(dir, 'l'));
      assert.equal(await realSpecHost.lstat(join(dir, 'none')), undefined);
      assert.equal(await realSpecHost.isDirectory(join(dir, 'none')), undefined);
      assert.equal(await realSpecHost.isDirectory(join(dir, 'none', 'deeper')), undefined);
      assert.equal(await realSpecHost.isDirectory(dir), true);
      assert.equal(await realSpecHost.isDirectory(join(dir, 'l')), false);
      assert.equal(((await realSpecHost.lstat(join(dir, 'l')))?.mode ?? 0) & 0o170000, 0o120000);
      assert.equal(await realSpecHost.realpath(join(dir, 'l')), join(dir, 'f'));
      await realSpecHost.mkdirAll(join(dir, 'a', 'b'));
      assert.equal(await realSpecHost.isDirectory(join(dir, 'a', 'b')), true);
      await assert.rejects(realSpecHost.readFile(join(dir, 'none')), { code: 'ENOENT' });
      // below a regular file: an error, not a missing path (Go's os.IsNotExist is false for ENOTDIR)
      await assert.rejects(realSpecHost.isDirectory(join(dir, 'f', 'sub')), { code: 'ENOTDIR' });
      await assert.rejects(realSpecHost.lstat(join(dir, 'f', 'sub')), { code: 'ENOTDIR' });
      assert.match(await realSpecHost.mountInfo(), / - /);
    } finally {
      rmSync(dir, { recursive: true });
    }
  });
  test('facts of this process', () => {
    const facts = hostSpecFacts();
    assert.ok(facts.daemonCapabilities.every((c) => KNOWN_CAPABILITIES.includes(c)));
    if (process.getuid?.() === 0) assert.ok(facts.daemonCapabilities.includes('CAP_SYS_ADMIN'));
    else assert.deepEqual(facts.daemonCapabilities, []);
    assert.equal(typeof facts.daemonOomScoreAdj, 'number');
    assert.ok(Number.isInteger(facts.daemonOomScoreAdj));
    assert.equal(typeof facts.cgroupV2, 'boolean');
    assert.ok(facts.kernelVersion && facts.kernelVersion.major >= 3);
  });
  test('kernel versions', () => {
    assert.deepEqual(kernelVersionOf('6.1.0-18-amd64'), { major: 6, minor: 1 });
    assert.deepEqual(kernelVersionOf('4.8.0'), { major: 4, minor: 8 });
    assert.equal(kernelVersionOf('weird'), undefined);
  });
});
