import { mkdirSync, unlinkSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Logger } from '../core/log/index.js';
import { PluginType } from '../plugin/index.js';
import type { GrpcServer } from '../server/server.js';
import type { GrpcService } from '../server/service.js';
import { BUILTINS } from './builtins.js';
import type { Config } from './config.js';
import { grpcServer } from './grpc-server.js';
import { PluginSet } from './plugin-set.js';
import { readVersion } from './version.js';

/** berthd's own launcher, given to shims as `-publish-binary`. */
const BERTHD_BIN = resolve(import.meta.dirname, '../../bin/berthd');

/**
 * One running berthd: the gRPC socket bound, plugins loaded in order, then
 * calls served; the pid file under state. {@link Daemon.stop} undoes it all
 * in reverse: stop accepting calls, let those in flight finish, close the
 * plugins (the metadata DB last), remove the pid file.
 *
 * The socket is bound before the plugins load (main.ts binds it before it
 * even imports this module): a client that connects meanwhile waits for its
 * answer instead of being refused and backing off (grpc-go's reconnect
 * back-off starts at a second), and a second daemon on the same socket is
 * refused before it touches the metadata.
 */
export class Daemon {
  private stopping = false;
  private plugins: PluginSet | undefined;
  private pluginsClosed: Promise<void> | undefined;
  private server: GrpcServer | undefined;

  /** `server`, when given, is this daemon's socket, already listening (grpcServer()). */
  constructor(
    readonly config: Config,
    private readonly log: Logger,
    server?: GrpcServer,
  ) {
    this.server = server;
  }

  get pidFile(): string {
    return join(this.config.state, 'berthd.pid');
  }

  async start(): Promise<void> {
    const { root, state, grpc } = this.config;
    mkdirSync(root, { recursive: true, mode: 0o700 });
    mkdirSync(state, { recursive: true, mode: 0o711 });
    if (this.server === undefined) {
      const server = grpcServer(this.config, this.log);
      await server.listen();
      this.server = server;
    }
    const server = this.server;
    try {
      this.plugins = await PluginSet.load(BUILTINS, {
        root,
        state,
        log: this.log,
        config: this.config.plugins,
        disabled: this.config.disabledPlugins,
        daemon: {
          address: grpc.address,
          ttrpcAddress: `${grpc.address}.ttrpc`,
          publishBinary: BERTHD_BIN,
          version: readVersion(),
          shuttingDown: () => this.stopping,
        },
      });
      if (this.stopping) {
        // stop() came while the plugins loaded: it has closed the socket.
        await this.closePlugins();
        return;
      }
      // A grpc plugin serves one service, or several (the CRI: RuntimeService and ImageService).
      const grpcPlugins = this.plugins.getByType<GrpcService | GrpcService[]>(PluginType.grpc);
      server.serve([...grpcPlugins.values()].flat());
    } catch (err) {
      this.server = undefined;
      await server.stop(0);
      await this.closePlugins();
      throw err;
    }
    writeFileSync(this.pidFile, `${process.pid}\n`, { mode: 0o644 });
    this.log.info({ root, state, address: grpc.address, pid: process.pid }, 'berthd started');
  }

  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    this.log.info('berthd stopping');
    await this.server?.stop();
    await this.closePlugins();
    try {
      unlinkSync(this.pidFile);
    } catch {
      // never written, or already gone
    }
    this.log.info('berthd stopped');
  }

  /** Closes the plugins once, whoever asks first (stop, or a start that was stopped). */
  private closePlugins(): Promise<void> {
    if (this.plugins === undefined) return Promise.resolve();
    this.pluginsClosed ??= this.plugins.close();
    return this.pluginsClosed;
  }
}
