import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { credentials, Metadata } from '@grpc/grpc-js';
import { EventsClient } from '../../src/api/containerd/services/events/v1/events.js';
import { namespaceCreate } from '../../src/wire/event-payloads.js';
import { Berthd } from '../helpers/berthd.js';
import { ctr, ctrOk } from '../helpers/ctr.js';

const root = process.getuid?.() === 0;

/** What we publish until a `ctr events` shows it: then its subscription is live. */
const READY_TOPIC = '/berth-e2e/ready';
const READY_FILTER = `topic=="${READY_TOPIC}"`;

interface Line {
  time: number;
  namespace: string;
  topic: string;
  json: string;
}

// Go's time.Time String(): `2006-01-02 15:04:05.999999999 +0000 UTC`.
const LINE = /^(\d{4}-\d\d-\d\d) (\d\d:\d\d:\d\d)(\.\d+)? \+0000 UTC (\S+) (\S+) (.*)$/;

/** A running `ctr events [filters…]`, its output split into lines. */
class CtrEvents {
  readonly proc: ChildProcess;
  out = '';
  err = '';
  constructor(socket: string, filters: string[]) {
    const env = { ...process.env };
    delete env.CONTAINERD_NAMESPACE;
    delete env.CONTAINERD_ADDRESS;
    this.proc = spawn('ctr', ['--address', socket, 'events', ...filters], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env,
    });
    this.proc.stdout?.on('data', (b: Buffer) => (this.out += b.toString()));
    this.proc.stderr?.on('data', (b: Buffer) => (this.err += b.toString()));
  }

  /** Parsed lines, without the readiness probes. */
  get lines(): Line[] {
    return this.out
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => {
        const m = LINE.exec(l);
        assert.ok(m, `unexpected ctr events line: ${l}`);
        const [, date, time, frac = '', namespace = '', topic = '', json = ''] = m;
        const ms = Date.parse(`${date}T${time}${frac.slice(0, 4)}Z`);
        return { time: ms, namespace, topic, json };
      })
      .filter((l) => l.topic !== READY_TOPIC);
  }

  get shown(): string[] {
    return this.lines.map((l) => `${l.namespace} ${l.topic} ${l.json}`);
  }

  async waitFor(n: number, timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.lines.length < n) {
      if (Date.now() > deadline || this.proc.exitCode !== null) {
        throw new Error(`ctr events showed ${JSON.stringify(this.shown)}; stderr: ${this.err}`);
      }
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  kill(): void {
    if (this.proc.exitCode === null && this.proc.signalCode === null) this.proc.kill('SIGKILL');
  }
}

describe('ctr events against berthd', { skip: !root && 'needs root' }, () => {
  let d: Berthd;
  let client: EventsClient;
  const running: CtrEvents[] = [];

  before(async () => {
    d = await Berthd.start();
    client = new EventsClient(`unix:${d.socket}`, credentials.createInsecure());
  });
  after(async () => {
    for (const c of running) c.kill();
    client?.close();
    await d?.cleanup();
  });

  /** Starts `ctr events` and waits until its subscription is live. */
  async function ctrEvents(filters: string[]): Promise<CtrEvents> {
    const c = new CtrEvents(d.socket, filters);
    running.push(c);
    const md = new Metadata();
    md.set('containerd-namespace', 'default');
    const probe = namespaceCreate({ name: 'probe' });
    const event = { typeUrl: probe.typeUrl, value: Buffer.from(probe.value) };
    const deadline = Date.now() + 10_000;
    while (!c.out.includes(READY_TOPIC)) {
      if (Date.now() > deadline || c.proc.exitCode !== null) {
        throw new Error(`ctr events never showed the probe; stderr: ${c.err}`);
      }
      await new Promise<void>((resolve, reject) =>
        client.publish({ topic: READY_TOPIC, event }, md, (err) => (err ? reject(err) : resolve())),
      );
      await new Promise((r) => setTimeout(r, 100));
    }
    return c;
  }

  it('shows namespace events as they happen, decoded, in order', async () => {
    const start = Date.now();
    const all = await ctrEvents([READY_FILTER, 'topic~="^/namespaces/"']);
    ctrOk(d.socket, ['namespaces', 'create', 'e2e-a', 'k=v']);
    ctrOk(d.socket, ['namespaces', 'label', 'e2e-a', 'k2=v2']);
    ctrOk(d.socket, ['namespaces', 'rm', 'e2e-a']);
    await all.waitFor(3);
    assert.deepEqual(all.shown, [
      'default /namespaces/create {"name":"e2e-a","labels":{"k":"v"}}',
      'default /namespaces/update {"name":"e2e-a","labels":{"k2":"v2"}}',
      // containerd publishes a delete in the deleted namespace.
      'e2e-a /namespaces/delete {"name":"e2e-a"}',
    ]);
    const times = all.lines.map((l) => l.time);
    assert.deepEqual(
      times,
      [...times].sort((a, b) => a - b),
    );
    assert.ok((times[0] ?? 0) >= start - 1000 && (times.at(-1) ?? 0) <= Date.now() + 1000);
  });

  it('shows only what the filters (any of them) match', async () => {
    const filtered = await ctrEvents([
      READY_FILTER,
      'topic=="/namespaces/delete"',
      'event.name==e2e-c',
    ]);
    const everything = await ctrEvents([]);
    ctrOk(d.socket, ['namespaces', 'create', 'e2e-b']);
    ctrOk(d.socket, ['namespaces', 'create', 'e2e-c']);
    ctrOk(d.socket, ['namespaces', 'rm', 'e2e-b']);
    ctrOk(d.socket, ['namespaces', 'rm', 'e2e-c']);
    await everything.waitFor(4);
    await filtered.waitFor(3);
    // Give a wrongly matched event time to show up.
    await new Promise((r) => setTimeout(r, 300));
    assert.deepEqual(filtered.shown, [
      'default /namespaces/create {"name":"e2e-c"}',
      'e2e-b /namespaces/delete {"name":"e2e-b"}',
      'e2e-c /namespaces/delete {"name":"e2e-c"}',
    ]);
    assert.deepEqual(
      everything.lines.map((l) => l.topic),
      ['/namespaces/create', '/namespaces/create', '/namespaces/delete', '/namespaces/delete'],
    );
  });

  it('reports an invalid filter', () => {
    const r = ctr(d.socket, ['events', 'topic==']);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /failed parsing subscription filters/);
  });
});
