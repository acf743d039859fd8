/**
 * What resolving the image's user costs berth's client: `withImageConfig`
 * on the bench's 5-layer image (layers-image.ts: 97.5 MiB of tar in 10,128
 * entries, gzip), which reads /etc/passwd and /etc/group from the layers
 * through the content store instead of mounting the snapshot as containerd
 * does. Three placements: the files in the top layer (one layer read), in
 * the bottom layer (every layer read), and no USER at all (root's groups are
 * still looked up, as containerd does). Blobs are served from memory, so the
 * figures are the client's own work: decompressing and walking the tars.
 * "cold" forgets what was read before each round; "cached" is the next
 * container of the same image (the files are cached by layer digests).
 *
 * node --import tsx bench/oci-user.ts [--rounds N]
 */
import { generateSpec, withImageConfig } from '../src/client/oci/index.js';
import { type LayerEntry, MemoryContent } from '../src/client/oci/testing/images.js';
import { clearUserCache } from '../src/client/oci/user.js';
import type { Entry } from '../test/helpers/images.js';
import { layersImage } from './layers-image.js';

const rounds = Number(process.argv[process.argv.indexOf('--rounds') + 1]) || 5;
const ID_FILES: LayerEntry[] = [
  { type: 'dir', path: 'etc' },
  {
    type: 'file',
    path: 'etc/passwd',
    content: 'root:x:0:0::/root:/bin/sh\napp:x:1000:1000::/:/bin/sh\n',
  },
  { type: 'file', path: 'etc/group', content: 'root:x:0:\nstaff:x:50:app\n' },
];

function toLayerEntries(entries: Entry[]): LayerEntry[] {
  return entries.map((e): LayerEntry => {
    if (e.type === 'file') {
      return {
        type: 'file',
        path: e.path,
        content: e.content ?? '',
        ...(e.mode ? { mode: e.mode } : {}),
      };
    }
    if (e.type === 'symlink' || e.type === 'hardlink') {
      return { type: e.type, path: e.path, target: e.target };
    }
    return { type: e.type, path: e.path };
  });
}

async function image(place: 'top' | 'bottom' | 'none', user: string | undefined) {
  // 1 MiB chunks, as the content service streams them
  const content = new MemoryContent(1 << 20);
  const spec = layersImage();
  const layers = [];
  let bytes = 0;
  for (const [i, l] of spec.layers.entries()) {
    if (!('entries' in l)) throw new Error('layers-image has entries only');
    const entries = toLayerEntries(l.entries);
    if ((place === 'bottom' && i === 0) || (place === 'top' && i === spec.layers.length - 1)) {
      entries.push(...ID_FILES);
    }
    const desc = await content.layer(entries);
    bytes += desc.size;
    layers.push(desc);
  }
  const img = content.image('bench', { Cmd: ['sh'], ...(user ? { User: user } : {}) }, layers);
  return { content, img, bytes };
}

for (const [place, user] of [
  ['top', 'app'],
  ['bottom', 'app'],
  ['none', undefined],
] as const) {
  const { content, img, bytes } = await image(place, user);
  const measure = async (cold: boolean) => {
    const times: number[] = [];
    let uid = -1;
    for (let r = 0; r < rounds; r++) {
      if (cold) clearUserCache();
      content.reads.length = 0;
      const t0 = performance.now();
      const spec = await generateSpec(
        content.client('bench'),
        { id: `c${r}`, image: 'bench' },
        withImageConfig(img),
      );
      times.push(performance.now() - t0);
      uid = spec.process?.user.uid ?? -1;
    }
    times.sort((a, b) => a - b);
    const median = times[Math.floor(times.length / 2)]!;
    console.log(
      `/etc files in ${place.padEnd(6)} user ${String(user ?? '-').padEnd(4)} ${cold ? 'cold  ' : 'cached'} → uid ${uid}: median ${median.toFixed(1)} ms over ${rounds} (min ${times[0]!.toFixed(1)}), blobs read per spec: ${content.reads.length} of 6, image ${(bytes / 2 ** 20).toFixed(1)} MiB compressed`,
    );
  };
  await measure(true);
  await measure(false);
}
