import type { ContentStore } from '../../core/content/index.js';
import type { Applier, Comparer } from '../../core/diff/index.js';
import type { Checkpointer } from '../../core/tasks/index.js';
import {
  DifferKey,
  MetadataKey,
  PluginType,
  type Registration,
  TaskManagerKey,
} from '../../plugin/index.js';
import type { GrpcService } from '../../server/service.js';
import { tasksService } from './service.js';

/**
 * Makes the service's checkpointer over its scratch dir (the plugin's
 * state dir). Services do not import the runtime, so the daemon's list
 * passes the runtime's.
 */
export type CheckpointerFactory = (opts: {
  scratch: string;
  comparer: Comparer;
  applier: Applier;
  content: ContentStore;
}) => Checkpointer;

export function tasksGrpcPlugin(checkpointer: CheckpointerFactory): Registration<GrpcService> {
  return {
    type: PluginType.grpc,
    id: 'tasks',
    requires: [PluginType.runtimeV2, PluginType.metadata, PluginType.differ],
    init(ic) {
      const differ = ic.get(DifferKey);
      const metadata = ic.get(MetadataKey);
      return tasksService({
        containers: metadata.containers,
        tasks: ic.get(TaskManagerKey),
        checkpointer: checkpointer({
          scratch: ic.stateDir(),
          comparer: differ.comparer,
          applier: differ.applier,
          content: metadata.content,
        }),
      });
    },
  };
}
