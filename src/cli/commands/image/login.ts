import { bool, str } from '../../args.js';
import type { CommandSpec } from '../../command.js';
import type { CliContext } from '../../context.js';
import { CliError } from '../../errors.js';

/**
 * `berth login`: checks the credentials against the registry (GET /v2/,
 * answering its Basic or token challenge), then stores them as docker
 * does: in Docker's config.json (`$DOCKER_CONFIG` or `~/.docker`,
 * `auths.<server>.auth`), or through its `credsStore`/`credHelpers`.
 * Nothing is stored when the registry refuses them.
 */
export const command: CommandSpec = {
  usage: '[OPTIONS] [SERVER]',
  summary: 'Log in to a registry',
  flags: [
    { name: 'username', short: 'u', type: 'string', help: 'username' },
    { name: 'password', short: 'p', type: 'string', help: 'password' },
    { name: 'password-stdin', type: 'bool', help: 'take the password from stdin' },
  ],
  maxArgs: 1,
  async run(ctx, { flags, args }) {
    const { serverDomain } = await import('./server.js');
    const domain = serverDomain(args[0]);
    let username = str(flags, 'username');
    let password = str(flags, 'password');
    if (bool(flags, 'password-stdin')) {
      if (password !== undefined)
        throw new CliError('--password and --password-stdin are mutually exclusive');
      if (username === undefined)
        throw new CliError('Must provide --username with --password-stdin');
      password = (await readAll(ctx.io.stdin)).replace(/\r?\n$/, '');
    } else if (password !== undefined) {
      ctx.warn('Using --password via the CLI is insecure. Use --password-stdin.');
    }
    if (username === undefined || password === undefined) {
      if (ctx.io.stdin.isTTY !== true) {
        throw new CliError('Cannot perform an interactive login from a non TTY device');
      }
      username ??= await prompt(ctx, 'Username: ', false);
      password ??= await prompt(ctx, 'Password: ', true);
    }
    if (username === '') throw new CliError('Username is required');
    if (password === '') throw new CliError('Password is required');
    const { checkLogin, storeDockerCredentials } = await import('../../../remotes/index.js');
    const { dockerConfigDirOf } = await import('./registry-opts.js');
    const creds = { username, secret: password };
    try {
      await checkLogin(domain, creds, { hostsDir: ctx.globals.hostsDir });
    } catch (err) {
      throw new CliError((err as Error).message);
    }
    const dir = await dockerConfigDirOf(ctx);
    const where = await storeDockerCredentials(dir, domain, creds);
    if (where.helper === undefined) {
      const { join } = await import('node:path');
      ctx.io.stderr.write(
        `WARNING! Your password will be stored unencrypted in ${join(dir, 'config.json')}.\n` +
          'Configure a credential helper to remove this warning. See\n' +
          'https://docs.docker.com/engine/reference/commandline/login/#credential-stores\n\n',
      );
    }
    ctx.out('Login Succeeded\n');
    return 0;
  },
};

async function readAll(stream: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(Buffer.isBuffer(c) ? c : Buffer.from(c as string));
  return Buffer.concat(chunks).toString('utf8');
}

/** One line from the terminal; `secret`: not echoed. */
async function prompt(ctx: CliContext, question: string, secret: boolean): Promise<string> {
  const { createInterface } = await import('node:readline');
  const rl = createInterface({ input: ctx.io.stdin, output: ctx.io.stderr, terminal: true });
  if (secret) {
    const r = rl as unknown as { _writeToOutput: (s: string) => void };
    let asked = false;
    r._writeToOutput = (s: string) => {
      if (!asked) {
        asked = true;
        ctx.io.stderr.write(s);
      }
    };
  }
  try {
    return await new Promise<string>((res) => rl.question(question, res));
  } finally {
    if (secret) ctx.io.stderr.write('\n');
    rl.close();
  }
}
