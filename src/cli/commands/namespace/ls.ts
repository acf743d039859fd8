import { bool, str } from '../../args.js';
import type { CommandSpec } from '../../command.js';

interface NamespaceRow {
  Name: string;
  Containers: number;
  Images: number;
  Volumes: number;
  Labels: string;
}

/** `berth namespace ls`: nerdctl's table (NAME, CONTAINERS, IMAGES, VOLUMES, LABELS). */
export const command: CommandSpec = {
  usage: '[OPTIONS]',
  summary: 'List containerd namespaces',
  flags: [
    { name: 'quiet', short: 'q', type: 'bool', help: 'Only display namespace names' },
    { name: 'format', type: 'string', help: "Format the output: 'table', 'json' or a Go template" },
  ],
  maxArgs: 0,
  async run(ctx, { flags }) {
    const client = await ctx.client();
    const namespaces = (await client.namespaces.list()).sort((a, b) =>
      a.name.localeCompare(b.name),
    );
    if (bool(flags, 'quiet')) {
      ctx.out(namespaces.map((n) => `${n.name}\n`).join(''));
      return 0;
    }
    const rows: NamespaceRow[] = await Promise.all(
      namespaces.map(async (n) => {
        const c = client.withNamespace(n.name);
        const [containers, images] = await Promise.all([
          c.containerService().list(c.context()),
          c.imageService().list(c.context()),
        ]);
        return {
          Name: n.name,
          Containers: containers.length,
          Images: images.length,
          Volumes: 0,
          Labels: Object.entries(n.labels)
            .map(([k, v]) => `${k}=${v}`)
            .join(','),
        };
      }),
    );
    const { formatOutput } = await import('../../format/index.js');
    ctx.out(
      formatOutput(str(flags, 'format'), 'list', rows, {
        headers: {
          Name: 'NAME',
          Containers: 'CONTAINERS',
          Images: 'IMAGES',
          Volumes: 'VOLUMES',
          Labels: 'LABELS',
        },
        columns: [
          { header: 'NAME', value: (r: NamespaceRow) => r.Name },
          { header: 'CONTAINERS', value: (r: NamespaceRow) => String(r.Containers) },
          { header: 'IMAGES', value: (r: NamespaceRow) => String(r.Images) },
          { header: 'VOLUMES', value: (r: NamespaceRow) => String(r.Volumes) },
          { header: 'LABELS', value: (r: NamespaceRow) => r.Labels },
        ],
      }),
    );
    return 0;
  },
};
