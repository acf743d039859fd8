import { ExchangeKey, PluginType, type Registration } from '../../plugin/index.js';
import { TtrpcServer } from '../../ttrpc/index.js';
import { registerTtrpcEvents } from './ttrpc.js';

/**
 * `io.containerd.internal.v1` `ttrpc`: the socket shims forward their
 * events to (TTRPC_ADDRESS). It listens before the runtime reconnects to
 * shims that outlived the last daemon.
 */
export const ttrpcPlugin: Registration<TtrpcServer> = {
  type: PluginType.internal,
  id: 'ttrpc',
  requires: [PluginType.event],
  async init(ic) {
    const server = new TtrpcServer({ log: ic.log });
    registerTtrpcEvents(server, ic.get(ExchangeKey), ic.log);
    await server.listen(ic.daemon.ttrpcAddress, 0o600);
    ic.exports.address = ic.daemon.ttrpcAddress;
    return server;
  },
  close: (server) => server.close(),
};
