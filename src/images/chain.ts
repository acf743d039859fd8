/**
 * @module
 * Chain IDs (OCI image spec, containerd's identity.ChainID): the first
 * layer's is its diffID; each next one is sha256 of `<parent chain ID> <diffID>`.
 * Snapshots of unpacked layers are committed under these names.
 */
import { createHash } from 'node:crypto';

export function chainIds(diffIds: readonly string[]): string[] {
  const out: string[] = [];
  let parent = '';
  for (const d of diffIds) {
    const id =
      parent === '' ? d : `sha256:${createHash('sha256').update(`${parent} ${d}`).digest('hex')}`;
    out.push(id);
    parent = id;
  }
  return out;
}

/** The chain ID of the whole list ('' for none). */
export function chainId(diffIds: readonly string[]): string {
  return chainIds(diffIds).at(-1) ?? '';
}
