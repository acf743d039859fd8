/**
 * @module
 * The CRI streaming server: one-time URLs for Exec, Attach and PortForward, served over SPDY/3.1 with Kubernetes'
 * remotecommand and portforward protocols, calling the runtime's {@link StreamingRuntime}.
 */
export { StreamingServer, type StreamingServerOptions } from './server.js';
export type {
  StreamingRuntime,
  StreamOptions,
  TermSize,
} from './types.js';
