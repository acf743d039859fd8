import { mkdirSync, unlinkSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Logger } from '../core/log/index.js';
import { PluginType } from '../plugin/index.js';
import { GrpcServer } from '../server/server.js';
import type { GrpcService } from '../server/service.js';
import { BUILTINS } from './builtins.js';
import type { Config } from './config.js';
import { PluginSet } from './plugin-set.js';
import { readVersion } from './version.js';

/** berthd's own launcher, given to shims as `-publish-binary`. */
const BERTHD_BIN = resolve(import.meta.dirname, '../../bin/berthd');

/**
 * One running berthd: plugins loaded in order, the gRPC server on the
 * socket, the pid file under state. {@link Daemon.stop} undoes it all in
 * reverse: stop accepting calls, let those in flight finish, close the
 * plugins (the metadata DB last), remove the pid file.
 */
export class Daemon {
  private stopping = false;
  private plugins: PluginSet | undefined;
  private server: GrpcServer | undefined;

  constructor(
    readonly config: Config,
    private readonly log: Logger,
  ) {}

  get pidFile(): string {
    return join(this.config.state, 'berthd.pid');
  }

  async start(): Promise<void> {
    const { root, state, grpc } = this.config;
    mkdirSync(root, { recursive: true, mode: 0o700 });
    mkdirSync(state, { recursive: true, mode: 0o711 });
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
    const services = [...this.plugins.getByType<GrpcService>(PluginType.grpc).values()];
    this.server = new GrpcServer(
      {
        address: grpc.address,
        uid: grpc.uid,
        gid: grpc.gid,
        maxRecvMessageSize: grpc.maxRecvMessageSize,
        maxSendMessageSize: grpc.maxSendMessageSize,
        log: this.log,
      },
      services,
    );
    try {
      await this.server.start();
    } catch (err) {
      this.server = undefined;
      await this.plugins.close();
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
    await this.plugins?.close();
    try {
      unlinkSync(this.pidFile);
    } catch {
      // never written, or already gone
    }
    this.log.info('berthd stopped');
  }
}
