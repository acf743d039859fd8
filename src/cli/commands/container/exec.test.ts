import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { CliError } from '../../errors.js';
import { expandEnv, readEnvFiles, startError } from './exec.js';
import { filterPs } from './top.js';

describe('exec', () => {
  it("maps the runtime's start failures to docker's 127 and 126", () => {
    const notFound = startError(
      new Error(
        'OCI runtime exec failed: exec failed: unable to start container process: exec: "nope": executable file not found in $PATH: unknown',
      ),
      'nope',
    );
    assert.ok(notFound instanceof CliError);
    assert.equal(notFound.exitCode, 127);
    assert.match(
      notFound.message,
      /^exec "nope": executable file not found: OCI runtime exec failed/,
    );
    assert.equal(startError(new Error('exec: "/etc": permission denied'), '/etc').exitCode, 126);
    assert.equal(
      startError(
        new Error('chdir to cwd ("/x") set in config.json failed: no such file or directory'),
        'sh',
      ).exitCode,
      126,
    );
    assert.equal(startError(new Error('something else'), 'sh').exitCode, 126);
    assert.doesNotMatch(startError(new Error('a\nb'), 'sh').message, /\n/);
  });

  it('takes -e KEY from the environment, leaving it out when unset', () => {
    assert.equal(expandEnv('A=1', {}), 'A=1');
    assert.equal(expandEnv('A=', {}), 'A=');
    assert.equal(expandEnv('HOME', { HOME: '/root' }), 'HOME=/root');
    assert.equal(expandEnv('NOPE', {}), undefined);
  });

  it('reads env files as docker: comments and blank lines skipped, bare names from the environment', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'berth-envfile-'));
    try {
      const f = join(dir, 'env');
      writeFileSync(f, '# a comment\n\nA=1\n  B=two words\r\nUSER\nMISSING\n');
      assert.deepEqual(await readEnvFiles([f], { USER: 'me' }), [
        'A=1',
        'B=two words',
        'USER=me',
        undefined,
      ]);
      writeFileSync(f, '=x\n');
      await assert.rejects(readEnvFiles([f], {}), /variable without a name/);
      await assert.rejects(
        readEnvFiles([join(dir, 'none')], {}),
        /^CliError: env file .*none: ENOENT/,
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('top', () => {
  it("keeps ps's header and the lines of the task's pids, wherever the PID column is", () => {
    const out =
      'UID        PID  PPID  C STIME TTY          TIME CMD\nroot         1     0  0 10:00 ?        00:00:01 /sbin/init\nroot      4242     1  0 10:01 ?        00:00:00 sleep 1000\nroot      4243  4242  0 10:01 ?        00:00:00 sh\n';
    assert.equal(
      filterPs(out, new Set([4242, 4243])),
      'UID        PID  PPID  C STIME TTY          TIME CMD\nroot      4242     1  0 10:01 ?        00:00:00 sleep 1000\nroot      4243  4242  0 10:01 ?        00:00:00 sh\n',
    );
    assert.equal(
      filterPs('  PID COMMAND\n    7 x\n    8 y\n', new Set([8])),
      '  PID COMMAND\n    8 y\n',
    );
    assert.throws(
      () => filterPs('USER COMMAND\nroot x\n', new Set([1])),
      /Couldn't find PID field in ps output/,
    );
  });
});
