import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { BERTH } from '../helpers/berth-cli.js';
import { CliEnv, until } from '../helpers/cli-env.js';
import { shQuote } from '../helpers/ctr.js';
import { busyboxImage } from '../helpers/images.js';

const root = process.getuid?.() === 0;
const hasTmux = spawnSync('tmux', ['-V']).status === 0;

/** A tmux server of the test's own (`-L <name>`, no config file), killed by that socket name. */
class Tmux {
  readonly name = `berth-tty-${process.pid}`;

  constructor(private readonly env: NodeJS.ProcessEnv) {}

  run(args: string[]): string {
    return execFileSync('tmux', ['-L', this.name, '-f', '/dev/null', ...args], {
      encoding: 'utf8',
      env: this.env,
    });
  }

  /** The pane's visible text, lines without trailing blanks. */
  screen(): string {
    return this.run(['capture-pane', '-p', '-J', '-t', 'berth']);
  }

  type(text: string): void {
    this.run(['send-keys', '-t', 'berth', '-l', text]);
    this.run(['send-keys', '-t', 'berth', 'Enter']);
  }

  get alive(): boolean {
    return spawnSync('tmux', ['-L', this.name, 'has-session'], { stdio: 'ignore' }).status === 0;
  }

  kill(): void {
    spawnSync('tmux', ['-L', this.name, 'kill-server'], { stdio: 'ignore' });
  }
}

/**
 * `berth run --rm -it busybox sh` in a terminal: tmux gives berth a real
 * pty of 100×30. The shell's prompt comes, `tty` names a pty, `stty size`
 * is the window's, a resize of the window reaches the container, and
 * `exit 7` ends berth with 7.
 */
describe('berth run -it under tmux', {
  skip: (!root && 'needs root') || (!hasTmux && 'needs tmux'),
}, () => {
  let env: CliEnv;
  let image: string;
  let tmux: Tmux | undefined;

  before(async () => {
    env = await CliEnv.start();
    image = await env.image(busyboxImage(), 'berth/busybox:tty');
  });
  after(async () => {
    tmux?.kill();
    try {
      assert.ok(!tmux?.alive, 'the tmux server is gone');
    } finally {
      await env?.cleanup();
    }
  });

  it('prompt, tty, window size and its changes, exit code', async () => {
    const exitFile = join(env.work.path, 'exit');
    const argv = [BERTH, ...env.cli.globalArgs(), 'run', '--rm', '-it', image, 'sh'];
    const shell = `${argv.map(shQuote).join(' ')}; echo EXIT=$? > ${shQuote(exitFile)}`;
    const penv: NodeJS.ProcessEnv = { ...process.env, ...env.cli.opts.env, TERM: 'xterm' };
    delete penv.CONTAINERD_ADDRESS;
    delete penv.CONTAINERD_NAMESPACE;
    delete penv.TMUX;
    tmux = new Tmux(penv);
    const t = tmux;
    t.run(['new-session', '-d', '-s', 'berth', '-x', '100', '-y', '30', shell]);

    const screen = (what: string, re: RegExp, timeoutMs = 20_000) =>
      until(
        what,
        async () => t.screen(),
        (s) => re.test(s),
        timeoutMs,
      );

    await screen("busybox sh's prompt", /^\/ #\s*$/m);
    t.type('tty');
    await screen('tty to name a pty', /^\/dev\/pts\/\d+$/m);
    t.type('stty size');
    await screen('the window size', /^30 100$/m, 10_000);

    t.run(['resize-window', '-t', 'berth', '-x', '120', '-y', '40']);
    // The resize reaches berth as SIGWINCH, then the task's pty: ask until it shows.
    await until(
      'the new window size in the container',
      async () => {
        t.type('clear; stty size');
        await new Promise((r) => setTimeout(r, 300));
        return t.screen();
      },
      (s) => /^40 120$/m.test(s),
      10_000,
    );

    t.type('exit 7');
    const result = await until(
      'berth to exit',
      async () => (existsSync(exitFile) ? readFileSync(exitFile, 'utf8') : ''),
      (s) => s.endsWith('\n'),
      20_000,
    );
    assert.equal(result, 'EXIT=7\n');
    // --rm: the container goes with its shell.
    await until(
      '--rm to remove the container',
      () => env.cli.ok(['ps', '-a', '-q']),
      (o) => o === '',
    );
  });
});
