import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { CliEnv, until } from '../helpers/cli-env.js';
import { alive } from '../helpers/daemon.js';
import { busyboxImage } from '../helpers/images.js';

const root = process.getuid?.() === 0;

/** The promise: a killed `always` container runs again within 5 s. */
const RESTARTED_WITHIN_MS = 5000;
/** How long a stopped container is watched to stay stopped (the monitor's backoff starts at 100 ms). */
const STAYS_STOPPED_MS = 5000;

interface Info {
  Id: string;
  State: { Status: string; Running: boolean; Pid: number; ExitCode: number };
  RestartCount: number;
  HostConfig: { RestartPolicy: { Name: string; MaximumRetryCount: number } };
}

/**
 * Restart policies as docker has them, enforced by berthd's restart
 * monitor on the labels `berth run --restart` sets: a killed `always`
 * container runs again, `on-failure:N` gives up after N restarts, an
 * explicit `berth stop` or `berth kill` is honoured, and across a restart
 * of the daemon `unless-stopped` remembers the stop while `always` comes
 * back.
 */
describe('berth run --restart', { skip: !root && 'needs root' }, () => {
  let env: CliEnv;
  let image: string;
  const inspect = async (name: string): Promise<Info> => {
    const [info] = JSON.parse(await env.cli.ok(['container', 'inspect', name])) as Info[];
    assert.ok(info, `inspect ${name}`);
    return info;
  };
  const runDetached = async (name: string, policy: string, cmd: string[]) => {
    const r = await env.cli.run(['run', '-d', '--name', name, '--restart', policy, image, ...cmd]);
    assert.equal(r.code, 0, r.stderr);
    return r.stdout.trim();
  };
  /** Fails if `name` runs at any time during STAYS_STOPPED_MS. */
  const staysStopped = async (name: string) => {
    const deadline = Date.now() + STAYS_STOPPED_MS;
    while (Date.now() < deadline) {
      const info = await inspect(name);
      assert.notEqual(
        info.State.Status,
        'running',
        `${name} was started again (pid ${info.State.Pid})`,
      );
      await new Promise((r) => setTimeout(r, 250));
    }
  };

  before(async () => {
    env = await CliEnv.start();
    image = await env.image(busyboxImage(), 'berth/busybox:restart');
  });
  after(async () => {
    await env?.cleanup();
  });

  it('always: a container whose process is killed from the host runs again within 5 s', async () => {
    await runDetached('always-killed', 'always', ['sleep', '1000']);
    const first = await inspect('always-killed');
    assert.equal(first.State.Running, true);
    assert.deepEqual(first.HostConfig.RestartPolicy, { Name: 'always', MaximumRetryCount: 0 });
    process.kill(first.State.Pid, 'SIGKILL');
    const again = await until(
      'a new process',
      () => inspect('always-killed'),
      (i) => i.State.Running && i.State.Pid !== first.State.Pid && i.State.Pid > 0,
      RESTARTED_WITHIN_MS,
    );
    assert.ok(alive(again.State.Pid));
    assert.equal(again.RestartCount, 1);
  });

  it('always: berth kill counts as a stop, as docker kill does', async () => {
    // moby's killWithSignal marks the container manually stopped (no restart).
    await runDetached('always-berth-kill', 'always', ['sleep', '1000']);
    const first = await inspect('always-berth-kill');
    assert.equal(first.State.Running, true);
    assert.equal(await env.cli.ok(['kill', 'always-berth-kill']), 'always-berth-kill\n');
    await until(
      'the kill',
      () => inspect('always-berth-kill'),
      (i) => !i.State.Running,
    );
    assert.ok(!alive(first.State.Pid));
    await staysStopped('always-berth-kill');
  });

  it('on-failure:2 restarts a failing command twice, then gives up', async () => {
    await runDetached('fails', 'on-failure:2', ['sh', '-c', 'exit 3']);
    const info = await until(
      'two restarts and an exit',
      () => inspect('fails'),
      (i) => i.RestartCount === 2 && i.State.Status === 'exited',
    );
    assert.equal(info.State.ExitCode, 3);
    assert.deepEqual(info.HostConfig.RestartPolicy, { Name: 'on-failure', MaximumRetryCount: 2 });
    await staysStopped('fails');
    assert.equal((await inspect('fails')).RestartCount, 2, 'no third restart');
  });

  it('always: berth stop is honoured', async () => {
    await runDetached('always-stopped', 'always', ['sleep', '1000']);
    const first = await inspect('always-stopped');
    assert.equal(await env.cli.ok(['stop', '-t', '1', 'always-stopped']), 'always-stopped\n');
    assert.ok(!alive(first.State.Pid));
    await staysStopped('always-stopped');
    // berth start makes it run again, under its policy.
    await env.cli.ok(['start', 'always-stopped']);
    const again = await inspect('always-stopped');
    assert.equal(again.State.Running, true);
    process.kill(again.State.Pid, 'SIGKILL');
    await until(
      'the started container to be restarted after a kill',
      () => inspect('always-stopped'),
      (i) => i.State.Running && i.State.Pid !== again.State.Pid,
      RESTARTED_WITHIN_MS,
    );
  });

  describe('across a restart of berthd', () => {
    before(async () => {
      await runDetached('unless', 'unless-stopped', ['sleep', '1000']);
      await runDetached('always-up', 'always', ['sleep', '1000']);
      await runDetached('always-down', 'always', ['sleep', '1000']);
      await env.cli.ok(['stop', '-t', '1', 'unless']);
      await env.cli.ok(['stop', '-t', '1', 'always-down']);
      const up = await inspect('always-up');
      assert.equal(up.State.Running, true);
      // While berthd is down, always-up's process dies (its shim stays).
      await env.d.stop();
      process.kill(up.State.Pid, 'SIGKILL');
      await until(
        'the process to die',
        async () => alive(up.State.Pid),
        (a) => !a,
      );
      await env.d.restart();
    });

    it('an always container whose process died while berthd was down runs again', async () => {
      const info = await until(
        'always-up to run again',
        () => inspect('always-up'),
        (i) => i.State.Running,
      );
      assert.ok(alive(info.State.Pid));
    });

    it('unless-stopped remembers berth stop', async () => {
      await until(
        'always-up to run again',
        () => inspect('always-up'),
        (i) => i.State.Running,
      );
      await staysStopped('unless');
    });

    it('always, stopped with berth stop, comes back when the daemon starts (docker)', async () => {
      // docker: "If it's manually stopped, it's restarted only when Docker
      // daemon restarts or the container itself is manually restarted."
      await until(
        'always-down to run again',
        () => inspect('always-down'),
        (i) => i.State.Running,
      );
    });
  });
});
