import type { Descriptor } from '../core/content/index.js';
import type { Image as ImageRecord } from '../core/images/index.js';
import type { Labels } from '../core/labels/index.js';
import type { Client } from './client.js';

/**
 * An image in the daemon (containerd's `Image`): a name pointing at the
 * descriptor of an index or manifest in the content store.
 */
export class Image {
  constructor(
    protected readonly client: Client,
    /** The record as it was when this object was made. */
    readonly record: ImageRecord,
  ) {}

  get name(): string {
    return this.record.name;
  }

  get target(): Descriptor {
    return this.record.target;
  }

  get labels(): Labels {
    return this.record.labels;
  }
}
