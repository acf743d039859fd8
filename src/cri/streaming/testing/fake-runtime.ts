import { connect } from 'node:net';
import type { Duplex, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { StreamingRuntime, StreamOptions, TermSize } from '../types.js';

function write(w: Writable | undefined, text: string | Buffer): Promise<void> {
  return new Promise((resolve) => {
    if (!w) return resolve();
    w.write(text, () => resolve());
  });
}

/**
 * A runtime standing in for containers, so that the wire protocols are tested alone. Commands (cmd[0]):
 * - `cat`: copies stdin to stdout, exits 0;
 * - `fail <code> <text>`: writes text to stdout and `<text> on stderr` to stderr, exits with code;
 * - `resize <n>`: writes each terminal size as `WxH\n` until it has n, exits 0 (1 if the sizes end before);
 * - `big <bytes>`: writes that many bytes (a repeating pattern) to stdout, counting them in `written`;
 * - `hang`: waits until stdin ends;
 * - `until-gone`: waits until the session's signal aborts (the client left);
 * - `throw`: fails (an internal error).
 * portForward connects to 127.0.0.1:<port> (a test server) and copies both ways.
 */
export class FakeRuntime implements StreamingRuntime {
  written = 0;
  readonly calls: string[] = [];

  async exec(containerId: string, cmd: string[], o: StreamOptions): Promise<number> {
    this.calls.push(`exec ${containerId} ${cmd.join(' ')} tty=${o.tty}`);
    switch (cmd[0]) {
      case 'cat':
        if (o.stdin && o.stdout) await pipeline(o.stdin, o.stdout);
        return 0;
      case 'fail':
        await write(o.stdout, cmd[2] ?? '');
        await write(o.stderr, `${cmd[2] ?? ''} on stderr`);
        return Number(cmd[1]);
      case 'resize': {
        let left = Number(cmd[1]);
        for await (const s of o.resize ?? noSizes()) {
          await write(o.stdout, `${s.width}x${s.height}\n`);
          if (--left === 0) break;
        }
        return left === 0 ? 0 : 1;
      }
      case 'big': {
        const total = Number(cmd[1]);
        const chunk = Buffer.alloc(16 * 1024);
        for (let i = 0; i < chunk.length; i++) chunk[i] = i % 251;
        this.written = 0;
        while (this.written < total) {
          const n = Math.min(chunk.length, total - this.written);
          await write(o.stdout, chunk.subarray(0, n));
          this.written += n;
        }
        return 0;
      }
      case 'hang':
        if (o.stdin) for await (const _ of o.stdin);
        return 0;
      case 'until-gone':
        // Waits for the session to end without reading anything, as an attach without stdin does.
        if (!o.signal) throw new Error('no signal');
        if (!o.signal.aborted) await new Promise((r) => o.signal!.addEventListener('abort', r));
        this.calls.push('until-gone ended');
        return 0;
      default:
        throw new Error(`no such command "${cmd[0]}"`);
    }
  }

  async attach(containerId: string, o: StreamOptions): Promise<void> {
    this.calls.push(`attach ${containerId} tty=${o.tty}`);
    if (o.stdin && o.stdout) await pipeline(o.stdin, o.stdout);
  }

  async portForward(podSandboxId: string, port: number, stream: Duplex): Promise<void> {
    this.calls.push(`portforward ${podSandboxId} ${port}`);
    const socket = connect(port, '127.0.0.1');
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    await Promise.all([pipeline(stream, socket), pipeline(socket, stream)]);
  }
}

async function* noSizes(): AsyncIterable<TermSize> {}
