import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { describe, it } from 'node:test';
import {
  checkpointArgs,
  createArgs,
  execArgs,
  globalArgs,
  killArgs,
  lastRuncError,
  Runc,
  restoreArgs,
} from './runc.js';

describe('runc arguments', () => {
  it('global flags: root, JSON log, systemd cgroups only when asked', () => {
    const c = { command: 'runc', root: '/run/containerd/runc/default', log: '/b/log.json' };
    assert.deepEqual(globalArgs({ ...c, systemdCgroup: false }), [
      '--root',
      '/run/containerd/runc/default',
      '--log',
      '/b/log.json',
      '--log-format',
      'json',
    ]);
    assert.equal(globalArgs({ ...c, systemdCgroup: true }).at(-1), '--systemd-cgroup');
  });

  it('create, exec, kill', () => {
    assert.deepEqual(createArgs('c1', '/b', { pidFile: '/b/init.pid', noPivot: true }), [
      'create',
      '--bundle',
      '/b',
      '--pid-file',
      '/b/init.pid',
      '--no-pivot',
      'c1',
    ]);
    assert.deepEqual(
      execArgs('c1', { pidFile: '/b/e.pid', processFile: '/b/p.json', consoleSocket: '/tmp/s' }),
      [
        'exec',
        '--detach',
        '--process',
        '/b/p.json',
        '--pid-file',
        '/b/e.pid',
        '--console-socket',
        '/tmp/s',
        'c1',
      ],
    );
    assert.deepEqual(killArgs('c1', 9, true), ['kill', '--all', 'c1', '9']);
    assert.deepEqual(killArgs('c1', 15, false), ['kill', 'c1', '15']);
  });

  it('checkpoint and restore', () => {
    assert.deepEqual(
      checkpointArgs('c1', {
        imagePath: '/img',
        workPath: '/work',
        leaveRunning: true,
        allowOpenTcp: true,
        emptyNamespaces: ['network'],
      }),
      [
        'checkpoint',
        '--image-path',
        '/img',
        '--work-path',
        '/work',
        '--tcp-established',
        '--empty-ns',
        'network',
        '--leave-running',
        'c1',
      ],
    );
    const r = restoreArgs('c1', '/b', { pidFile: '/b/init.pid', imagePath: '/img' });
    assert.deepEqual(r.slice(0, 3), ['restore', '--detach', '--no-subreaper']);
    assert.equal(r.at(-1), 'c1');
    assert.ok(r.includes('--image-path'));
  });

  it('the last error of runc JSON log', () => {
    const log = [
      '{"level":"error","msg":"old failure","time":"t"}',
      '{"level":"info","msg":"hi","time":"t"}',
      '{"level":"error","msg":"container_linux.go:380: starting container process caused: exec: \\"nope\\": executable file not found in $PATH\\n","time":"t"}',
      '{"level":"err',
    ].join('\n');
    assert.equal(
      lastRuncError(log),
      'container_linux.go:380: starting container process caused: exec: "nope": executable file not found in $PATH',
    );
    assert.equal(lastRuncError(''), '');
  });

  it('a failing runc command rejects with its stderr text when its log has none', async () => {
    const r = new Runc({
      command: '/bin/sh',
      root: '/nonexistent-root',
      log: '/nonexistent-dir/log.json',
      systemdCgroup: false,
      // sh -c '<script>' ignores runc's arguments after $0
      spawn: (_c, _args, opts) =>
        spawn(
          '/bin/sh',
          [
            '-c',
            'echo \'time="x" level=error msg="container \\"c1\\" does not exist"\' >&2; exit 1',
          ],
          opts,
        ),
    });
    await assert.rejects(r.kill('c1', 9), /container "c1" does not exist/);
  });
});
