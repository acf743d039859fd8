import { randomBytes } from 'node:crypto';
import type { Readable, Writable } from 'node:stream';
import type * as Oci from '../../../client/oci/index.js';
import { bool, list, str } from '../../args.js';
import type { CommandSpec } from '../../command.js';
import { fifoDirOf } from '../../container/state-dir.js';
import { CliError, ExitCode } from '../../errors.js';
import { Labels } from '../../labels.js';

/**
 * `berth exec CONTAINER COMMAND [ARG...]`: a new process in the container's
 * running task, its process spec the container's own with docker's
 * overrides (`-e`, `--env-file`, `-w`, `-u`, `-t`). Exits with the
 * process's exit code; 126 when the command cannot be invoked, 127 when it
 * is not found (docker's codes), 125 when berth fails.
 */
export const command: CommandSpec = {
  usage: '[OPTIONS] CONTAINER COMMAND [ARG...]',
  summary: 'Execute a command in a running container',
  flags: [
    {
      name: 'detach',
      short: 'd',
      type: 'bool',
      help: 'Detached mode: run command in the background',
    },
    { name: 'env', short: 'e', type: 'list', help: 'Set environment variables' },
    { name: 'env-file', type: 'list', help: 'Read in a file of environment variables' },
    { name: 'interactive', short: 'i', type: 'bool', help: 'Keep STDIN open even if not attached' },
    {
      name: 'privileged',
      type: 'bool',
      help: 'Give extended privileges to the command (not supported)',
    },
    { name: 'tty', short: 't', type: 'bool', help: 'Allocate a pseudo-TTY' },
    {
      name: 'user',
      short: 'u',
      type: 'string',
      help: 'Username or UID (format: "<name|uid>[:<group|gid>]")',
    },
    { name: 'workdir', short: 'w', type: 'string', help: 'Working directory inside the container' },
  ],
  minArgs: 2,
  stopAtPositional: true,
  async run(ctx, { flags, args }) {
    if (bool(flags, 'privileged')) throw new CliError('exec --privileged is not supported');
    const [{ findContainer }, client] = await Promise.all([
      import('../../lookup.js'),
      ctx.client(),
    ]);
    const { cio, oci, isNotFound } = await import('../../../client/index.js');
    const ref = args[0] as string;
    const record = await findContainer(client, ref);
    const container = await client.loadContainer(record.id);
    const task = await container.task().catch((err: unknown) => {
      if (isNotFound(err)) throw new CliError(`container ${ref} is not running`);
      throw err;
    });
    const st = await task.status();
    if (st.status === 'paused')
      throw new CliError(`container ${ref} is paused, unpause the container before exec`);
    if (st.status !== 'running') throw new CliError(`container ${ref} is not running`);

    const spec = (await container.spec()) as unknown as Oci.Spec;
    const tty = bool(flags, 'tty');
    const env = [
      ...(await readEnvFiles(list(flags, 'env-file'), ctx.env)),
      ...list(flags, 'env').map((e) => expandEnv(e, ctx.env)),
    ].filter((e): e is string => e !== undefined);
    const proc = structuredClone(spec.process ?? { cwd: '/', args: [] }) as NonNullable<
      Oci.Spec['process']
    >;
    proc.args = args.slice(1);
    proc.terminal = tty;
    proc.env = oci.replaceOrAppendEnvValues(proc.env ?? [], env);
    const cwd = str(flags, 'workdir');
    if (cwd !== undefined && cwd !== '') proc.cwd = cwd;
    const user = str(flags, 'user');
    if (user !== undefined && user !== '') {
      // The client's user resolution (the image's /etc/passwd and /etc/group) on a copy of the spec.
      const s: Oci.Spec = { ...spec, process: proc };
      await oci.withUser(user)(
        oci.specClientFor(client.context(), client.contentStore(), (n) => client.getImage(n)),
        {
          id: record.id,
          image: record.image,
          snapshotter: record.snapshotter,
          snapshotKey: record.snapshotKey,
        },
        s,
      );
      proc.user = (s.process as typeof proc).user;
    }
    if (
      tty &&
      !bool(flags, 'detach') &&
      ctx.io.stdin.isTTY !== true &&
      bool(flags, 'interactive')
    ) {
      throw new CliError('the input device is not a TTY');
    }

    const execId = `exec-${randomBytes(8).toString('hex')}`;
    const detach = bool(flags, 'detach');
    const fifoDir = fifoDirOf(record.labels[Labels.stateDir]);
    const creator = detach
      ? cio.nullIO()
      : cio.withStreams(
          bool(flags, 'interactive') ? (ctx.io.stdin as Readable) : undefined,
          ctx.io.stdout as Writable,
          ctx.io.stderr as Writable,
          { terminal: tty, ...(fifoDir !== undefined && { fifoDir }) },
        );
    const p = await task.exec(execId, proc as unknown as Record<string, unknown>, creator);
    const exited = p.wait();
    exited.catch(() => undefined);
    const restore = tty && !detach ? rawTerminal(ctx.io.stdin) : () => {};
    try {
      try {
        await p.start();
      } catch (err) {
        await p.delete().catch(() => undefined);
        throw startError(err, proc.args[0] ?? '');
      }
      if (detach) return ExitCode.ok;
      const stopResize = tty ? watchResize(ctx.io.stdout, (w, h) => p.resize(w, h)) : () => {};
      try {
        const { exitCode } = await exited;
        await p.delete().catch(() => undefined);
        return exitCode;
      } finally {
        stopResize();
      }
    } finally {
      restore();
    }
  },
};

/**
 * docker's codes for an exec that cannot start: 127 when the command is not
 * found, 126 when it cannot be invoked; the runtime's message names why.
 */
export function startError(err: unknown, cmd: string): CliError {
  const msg = (err instanceof Error ? err.message : String(err)).replace(/\s+/g, ' ').trim();
  if (/chdir to cwd/i.test(msg)) {
    return new CliError(
      `exec ${JSON.stringify(cmd)}: cannot invoke: ${msg}`,
      ExitCode.cannotInvoke,
    );
  }
  if (/executable file not found|no such file or directory/i.test(msg)) {
    return new CliError(
      `exec ${JSON.stringify(cmd)}: executable file not found: ${msg}`,
      ExitCode.notFound,
    );
  }
  if (/permission denied|is a directory|exec format error/i.test(msg)) {
    return new CliError(
      `exec ${JSON.stringify(cmd)}: cannot invoke: ${msg}`,
      ExitCode.cannotInvoke,
    );
  }
  return new CliError(`exec ${JSON.stringify(cmd)}: ${msg}`, ExitCode.cannotInvoke);
}

/** `-e KEY` takes KEY's value from berth's environment (left out when unset), as docker. */
export function expandEnv(e: string, env: NodeJS.ProcessEnv): string | undefined {
  if (e.includes('=')) return e;
  const v = env[e];
  return v === undefined ? undefined : `${e}=${v}`;
}

/** docker's --env-file: `KEY=VALUE` lines, `KEY` alone from the environment, `#` comments and blank lines skipped. */
export async function readEnvFiles(
  paths: readonly string[],
  env: NodeJS.ProcessEnv,
): Promise<(string | undefined)[]> {
  const { readFile } = await import('node:fs/promises');
  const out: (string | undefined)[] = [];
  for (const path of paths) {
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (err) {
      throw new CliError(`env file ${path}: ${(err as Error).message}`);
    }
    for (const raw of text.split('\n')) {
      const line = raw.replace(/^\s+/, '').replace(/\r$/, '');
      if (line === '' || line.startsWith('#')) continue;
      if (/^=/.test(line)) throw new CliError(`env file ${path}: variable without a name: ${line}`);
      out.push(expandEnv(line, env));
    }
  }
  return out;
}

/** Puts a terminal stdin in raw mode; answers the undo. */
function rawTerminal(stdin: NodeJS.ReadableStream & { isTTY?: boolean }): () => void {
  const tty = stdin as NodeJS.ReadableStream & {
    isTTY?: boolean;
    setRawMode?: (on: boolean) => void;
  };
  if (tty.isTTY !== true || tty.setRawMode === undefined) return () => {};
  tty.setRawMode(true);
  return () => tty.setRawMode?.(false);
}

/** Sends the terminal's size now and on every SIGWINCH; answers the stop. */
function watchResize(
  out: NodeJS.WritableStream & { columns?: number; rows?: number; isTTY?: boolean },
  resize: (w: number, h: number) => Promise<void>,
): () => void {
  if (out.isTTY !== true) return () => {};
  const send = () => {
    if (out.columns && out.rows) resize(out.columns, out.rows).catch(() => undefined);
  };
  send();
  process.on('SIGWINCH', send);
  return () => process.off('SIGWINCH', send);
}
