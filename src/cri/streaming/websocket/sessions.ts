import type { Duplex } from 'node:stream';
import type { Logger } from '../../../core/log/index.js';
import {
  closedSignal,
  type RemoteCommandOptions,
  type RemoteCommandRun,
  runRemoteCommand,
} from '../remotecommand.js';
import type { ChannelSpec, WsChannel, WsChannelConnection } from './channel-connection.js';

// The sessions kubelet serves over WebSocket (its wsstream channel protocols): exec and attach, and port-forward.

/** WebSocket subprotocols of remotecommand (wsstream's channel protocols; "" is the binary one, unversioned). */
export const REMOTECOMMAND_WEBSOCKET_PROTOCOLS = [
  'v4.channel.k8s.io',
  'v4.base64.channel.k8s.io',
  'channel.k8s.io',
  'base64.channel.k8s.io',
  '',
] as const;

/**
 * Serves one exec or attach session over WebSocket, as kubelet does: channels 0-4 are stdin, stdout, stderr, error
 * and resize; an empty message on the first output channel tells the client the session is up; the status goes on
 * the error channel (JSON in the v4 protocols), then the connection closes. The channel protocol has no way to close
 * stdin: it ends with the connection.
 */
export async function serveWebSocketRemoteCommand(
  conn: WsChannelConnection,
  protocol: string,
  opts: RemoteCommandOptions,
  work: RemoteCommandRun,
  log: Logger,
): Promise<void> {
  const [stdin, stdout, stderr, error, resize] = conn.channels as [
    WsChannel,
    WsChannel,
    WsChannel,
    WsChannel,
    WsChannel,
  ];
  const first = opts.stdout ? stdout : opts.stderr ? stderr : error;
  first.write(Buffer.alloc(0));
  await runRemoteCommand(
    {
      signal: closedSignal(conn),
      error,
      stdin: opts.stdin ? stdin : undefined,
      stdout: opts.stdout ? stdout : undefined,
      stderr: opts.stderr && !opts.tty ? stderr : undefined,
      resize: opts.tty ? resize : undefined,
    },
    protocol.startsWith('v4.'),
    opts.tty,
    work,
    log,
  );
  await conn.close();
}

/** The channels of a remotecommand WebSocket session. */
export function remoteCommandChannels(opts: RemoteCommandOptions): ChannelSpec[] {
  return [
    { read: opts.stdin, write: false },
    { read: false, write: opts.stdout },
    { read: false, write: opts.stderr },
    { read: false, write: true },
    { read: true, write: false },
  ];
}

/** WebSocket subprotocols of port-forward (wsstream's channel protocols; "" is the binary one). */
export const PORTFORWARD_WEBSOCKET_PROTOCOLS = [
  'v4.channel.k8s.io',
  'v4.base64.channel.k8s.io',
  '',
] as const;

/** Per forwarded port, a data channel (both ways) then an error channel (to the client). */
export function portForwardChannels(ports: number[]): ChannelSpec[] {
  return ports.flatMap(() => [
    { read: true, write: true },
    { read: false, write: true },
  ]);
}

/**
 * Serves port-forward over WebSocket, as kubelet does: one connection forwards the request's ports once each, on
 * channels 2i (data) and 2i+1 (error); each channel first carries its port (16 bits, little-endian). A failure is
 * written to the port's error channel. The connection closes when every port is done.
 */
export async function serveWebSocketPortForward(
  conn: WsChannelConnection,
  podSandboxId: string,
  ports: number[],
  forward: (port: number, stream: Duplex) => Promise<void>,
  log: Logger,
): Promise<void> {
  await Promise.all(
    ports.map(async (port, i) => {
      const data = conn.channels[2 * i] as WsChannel;
      const error = conn.channels[2 * i + 1] as WsChannel;
      const portBytes = Buffer.alloc(2);
      portBytes.writeUInt16LE(port);
      data.write(portBytes);
      error.write(portBytes);
      try {
        await forward(port, data);
      } catch (err) {
        const msg = `error forwarding port ${port} to pod ${podSandboxId}, uid : ${(err as Error).message}`;
        log.warn(
          { port, podSandboxId, err: (err as Error).message },
          'streaming: port-forward failed',
        );
        error.write(msg);
      }
      data.end();
      error.end();
    }),
  );
  await conn.close();
}
