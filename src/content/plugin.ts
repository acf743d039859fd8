import { PluginType, type Registration } from '../plugin/index.js';
import { LocalContentStore } from './local-store.js';

/** `io.containerd.content.v1` `content`: the blob store, without namespaces. */
export const contentPlugin: Registration<LocalContentStore> = {
  type: PluginType.content,
  id: 'content',
  requires: [],
  init(ic) {
    const root = ic.rootDir();
    ic.exports.root = root;
    return new LocalContentStore(root, { log: ic.log });
  },
};
