import type { CommandSpec } from '../../command.js';

/** `berth logout`: removes a registry's credentials from Docker's config.json and its credential helper. */
export const command: CommandSpec = {
  usage: '[SERVER]',
  summary: 'Log out from a registry',
  flags: [],
  maxArgs: 1,
  async run(ctx, { args }) {
    const { serverDomain } = await import('./server.js');
    const { configKeyFor, eraseDockerCredentials } = await import('../../../remotes/index.js');
    const { dockerConfigDirOf } = await import('./registry-opts.js');
    const domain = serverDomain(args[0]);
    const key = configKeyFor(domain);
    const found = await eraseDockerCredentials(await dockerConfigDirOf(ctx), domain);
    ctx.out(found ? `Removing login credentials for ${key}\n` : `Not logged in to ${key}\n`);
    return 0;
  },
};
