/**
 * The seed program with berth's TypeScript client, line for line the Go
 * program in test/go/seed (containerd's own client): pull `redis:alpine`
 * with unpack from the registry given on the command line, list the images
 * with their sizes, create a container with a new snapshot and a spec from
 * the image config, run its task with this program's stdio, wait (armed
 * before start), start, sleep, stop it with SIGTERM and print the exit
 * status. Every line printed is deterministic, so a test compares the two
 * programs' output against berthd and against containerd.
 *
 * Usage: node --import tsx examples/seed.ts <registry-host> [<container-id>]
 * (CONTAINERD_ADDRESS and CONTAINERD_NAMESPACE pick the daemon and the
 * namespace; default berthd's socket and `default`). Outside this
 * repository, import from 'berth/client'.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { Client, cio, oci, withNewSnapshot, withNewSpec } from '../src/client/index.js';

async function main(argv: string[]): Promise<void> {
  const registry = argv[0];
  if (registry === undefined) throw new Error('usage: seed <registry-host> [<container-id>]');
  const ref = `${registry}/library/redis:alpine`;
  const id = argv[1] ?? 'redis-server';

  const client = Client.fromEnv();
  try {
    const image = await client.pull(ref, { unpack: true });
    console.log(`pulled ${image.name} ${image.target.digest}`);

    const images = (await client.listImages()).sort((a, b) => (a.name < b.name ? -1 : 1));
    for (const img of images) console.log(`image ${img.name} ${await img.size()}`);

    const container = await client.newContainer(
      id,
      withNewSnapshot(`${id}-snapshot`, image),
      withNewSpec(oci.withImageConfig(image)),
    );
    try {
      console.log(`container ${container.id} created`);

      const task = await container.newTask(cio.withStdio());
      try {
        console.log('task created');

        const exited = task.wait();
        await task.start();
        console.log('task started');
        await sleep(3_000);

        await task.kill('SIGTERM');
        const status = await exited;
        console.log(`${id} exited with status: ${status.exitCode}`);
      } finally {
        await task.delete();
      }
    } finally {
      await container.delete({ snapshotCleanup: true });
    }
  } finally {
    client.close();
  }
}

main(process.argv.slice(2)).catch((err: unknown) => {
  console.error('seed:', err instanceof Error ? err.message : err);
  process.exitCode = 1;
});
