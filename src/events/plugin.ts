import { PluginType, type Registration } from '../plugin/index.js';
import type { EventDecoder } from './adaptor.js';
import { EventExchange } from './exchange.js';

/**
 * `io.containerd.event.v1` `exchange`. The exchange never decodes protobuf,
 * so the daemon hands it the decoder `event.<field>` filters need.
 * Subscribers are ended on close; by then the server has stopped and ended
 * their streams already.
 */
export function exchangePlugin(decode: EventDecoder): Registration<EventExchange> {
  return {
    type: PluginType.event,
    id: 'exchange',
    requires: [],
    init: (ic) => new EventExchange({ decode, log: ic.log }),
    close: (ex) => ex.close(),
  };
}
