import { parseArgs } from 'node:util';
import { kindOf } from '../core/errdefs/index.js';
import { applyProcessConfig } from './apply.js';
import { defaultConfigToml, loadConfig } from './config.js';
import type { Daemon } from './daemon.js';
import { DEFAULTS } from './defaults.js';
import { grpcServer } from './grpc-server.js';
import { createLogger } from './logger.js';
import { readVersion } from './version.js';

const USAGE = `usage: berthd [flags]
       berthd config default

A container runtime daemon that serves containerd's API.

flags:
  -a, --address <socket>   gRPC socket (default ${DEFAULTS.address})
      --root <dir>         persistent state (default ${DEFAULTS.root})
      --state <dir>        volatile state (default ${DEFAULTS.state})
  -c, --config <toml>      config file (default ${DEFAULTS.config})
  -l, --log-level <level>  trace, debug, info, warn, error, fatal (default ${DEFAULTS.logLevel})
  -v, --version            print the version and exit
  -h, --help               print this help`;

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      address: { type: 'string', short: 'a' },
      root: { type: 'string' },
      state: { type: 'string' },
      config: { type: 'string', short: 'c' },
      'log-level': { type: 'string', short: 'l' },
      version: { type: 'boolean', short: 'v' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  if (values.version) {
    const v = readVersion();
    process.stdout.write(`berthd ${v.version} ${v.revision}\n`);
    return 0;
  }
  if (positionals.length > 0) {
    if (positionals.join(' ') === 'config default') {
      process.stdout.write(defaultConfigToml());
      return 0;
    }
    process.stderr.write(
      `berthd: unknown command ${JSON.stringify(positionals.join(' '))}\n${USAGE}\n`,
    );
    return 2;
  }

  const config = loadConfig({
    ...(values.address !== undefined && { address: values.address }),
    ...(values.root !== undefined && { root: values.root }),
    ...(values.state !== undefined && { state: values.state }),
    ...(values.config !== undefined && { config: values.config }),
    ...(values['log-level'] !== undefined && { logLevel: values['log-level'] }),
  });
  const log = createLogger(config.debug);
  // OOM score and cgroup first, as containerd does: a cgroup that cannot be
  // joined stops berthd before it binds anything, and whatever berthd starts
  // later (shims) is born in it.
  applyProcessConfig(config, log);
  // Bind the socket first, then load the daemon's modules and plugins (most
  // of the start-up time): clients that connect meanwhile wait for their
  // answers rather than being refused. A signal can come at any point from
  // here: before there is a daemon, stopping is closing the socket.
  const server = grpcServer(config, log);
  let daemon: Daemon | undefined;
  let stopRequested = false;
  let signals = 0;
  const done = new Promise<void>((resolve) => {
    const onSignal = (sig: NodeJS.Signals) => {
      signals++;
      if (signals > 1) {
        log.warn({ signal: sig }, 'second signal: exiting now');
        process.exit(1);
      }
      log.info({ signal: sig }, 'shutting down');
      stopRequested = true;
      (daemon?.stop() ?? server.stop()).then(resolve, (err: unknown) => {
        log.error({ err }, 'shutdown failed');
        process.exitCode = 1;
        resolve();
      });
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  });
  await server.listen();
  const { Daemon: DaemonClass } = await import('./daemon.js');
  if (stopRequested) {
    await done;
    await server.stop(); // bound after the signal's stop, if it came during listen
    return process.exitCode === undefined ? 0 : Number(process.exitCode);
  }
  daemon = new DaemonClass(config, log, server);
  await daemon.start();
  await done;
  return process.exitCode === undefined ? 0 : Number(process.exitCode);
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    const msg = err instanceof Error ? err.message : String(err);
    process.stderr.write(`berthd: ${msg}\n`);
    if (kindOf(err) === 'unknown' && err instanceof Error && err.stack) {
      process.stderr.write(`${err.stack}\n`);
    }
    process.exit(1);
  },
);
