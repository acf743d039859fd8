import assert from 'node:assert/strict';
import type { AnyPayload, Publisher } from '../../src/core/events/index.js';
import type { GcScheduler, GcStats } from '../../src/core/gc/index.js';
import { namespaceRequired, type OpContext } from '../../src/core/namespaces/index.js';

/**
 * Test doubles for the two collaborators services take: they record, and
 * never fake what the code under test does itself.
 */

export interface Published {
  namespace: string;
  topic: string;
  event: AnyPayload;
}

/** Records what is published, with the context's namespace. */
export class RecordingPublisher implements Publisher {
  readonly events: Published[] = [];
  async publish(ctx: OpContext, topic: string, event: AnyPayload): Promise<void> {
    this.events.push({ namespace: namespaceRequired(ctx), topic, event });
  }
}

/** Counts calls; while `hold` is set, `collect` waits for `release()`. */
export class CountingGc implements GcScheduler {
  schedules = 0;
  collects = 0;
  hold = false;
  private waiting: (() => void)[] = [];
  schedule(): void {
    this.schedules++;
  }
  collect(): Promise<GcStats> {
    this.collects++;
    const stats: GcStats = { removed: {}, pauseNanos: 0n };
    if (!this.hold) return Promise.resolve(stats);
    return new Promise((resolve) => this.waiting.push(() => resolve(stats)));
  }
  release(): void {
    for (const w of this.waiting.splice(0)) w();
  }
}

/**
 * Runs a sync delete while `gc` holds its collections, and checks that the
 * reply comes only after a collection was asked for and finished.
 */
export async function assertWaitsForCollect(
  gc: CountingGc,
  del: () => Promise<unknown>,
): Promise<void> {
  const collectsBefore = gc.collects;
  gc.hold = true;
  let answered = false;
  const pending = del().then(() => {
    answered = true;
  });
  for (let i = 0; i < 50 && gc.collects === collectsBefore; i++) {
    await new Promise((r) => setTimeout(r, 10));
  }
  assert.equal(gc.collects, collectsBefore + 1, 'a collection was asked for');
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(answered, false, 'the reply waits for the collection');
  gc.hold = false;
  gc.release();
  await pending;
  assert.equal(answered, true);
}
