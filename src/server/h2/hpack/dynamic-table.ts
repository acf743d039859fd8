import type { HeaderField } from './types.js';

/** RFC 7541 §4.1: an entry's size is its name and value lengths in octets plus 32. */
export const ENTRY_OVERHEAD = 32;

/**
 * The decoder's dynamic table (RFC 7541 §2.3.2, §4): a ring of fields, newest first, bounded by
 * the sum of entry sizes. The ring grows by doubling and never shrinks; it holds at most
 * maxSize / 32 entries.
 */
export class DynamicTable {
  private ring: (HeaderField | undefined)[] = new Array(16).fill(undefined);
  private mask = 15;
  /** Slot the next entry goes to; the newest entry is at head - 1. */
  private head = 0;
  private count = 0;
  private bytes = 0;

  constructor(private max: number) {}

  /** Entries held. */
  get length(): number {
    return this.count;
  }

  /** Sum of entry sizes, in octets. */
  get size(): number {
    return this.bytes;
  }

  /** The size bound in force. */
  get maxSize(): number {
    return this.max;
  }

  /** Entry `i`, 0 being the newest (HPACK index 62), or undefined past the last. */
  get(i: number): HeaderField | undefined {
    return i < this.count ? this.ring[(this.head - 1 - i) & this.mask] : undefined;
  }

  /** Inserts `field` as the newest entry, evicting the oldest until it fits (§4.4). */
  add(field: HeaderField): void {
    const size = field[0].length + field[1].length + ENTRY_OVERHEAD;
    if (size > this.max) {
      // Not an error: the table just ends up empty.
      while (this.count > 0) this.evict();
      return;
    }
    while (this.bytes + size > this.max) this.evict();
    if (this.count === this.ring.length) this.grow();
    this.ring[this.head] = field;
    this.head = (this.head + 1) & this.mask;
    this.count++;
    this.bytes += size;
  }

  /** Applies a new size bound, evicting the oldest entries until the table fits (§4.3). */
  setMaxSize(max: number): void {
    this.max = max;
    while (this.bytes > max) this.evict();
  }

  private evict(): void {
    const slot = (this.head - this.count) & this.mask;
    const field = this.ring[slot]!;
    this.ring[slot] = undefined;
    this.count--;
    this.bytes -= field[0].length + field[1].length + ENTRY_OVERHEAD;
  }

  private grow(): void {
    const ring: (HeaderField | undefined)[] = new Array(this.ring.length * 2).fill(undefined);
    for (let i = 0; i < this.count; i++)
      ring[i] = this.ring[(this.head - this.count + i) & this.mask];
    this.ring = ring;
    this.mask = ring.length - 1;
    this.head = this.count;
  }
}
