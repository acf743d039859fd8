import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { generateSpec, type SpecClient, type SpecImage } from '../../src/client/oci/index.js';
import {
  type Golden,
  SCENARIO_NAMESPACE,
  SCENARIOS,
  type Scenario,
} from '../../src/client/oci/testing/scenarios.js';
import type { Descriptor } from '../../src/core/content/index.js';
import { notFound } from '../../src/core/errdefs/index.js';
import { Containerd } from '../helpers/containerd.js';
import { ctrOk } from '../helpers/ctr.js';
import { type BuiltImage, buildAndPush, busyboxLayer, type Pushed } from '../helpers/images.js';
import { Registry } from '../helpers/registry.js';
import { type TempDir, tempDir } from '../helpers/tmp.js';

/**
 * berth's generated specs against the specs `ctr containers create`
 * generates, for the images and flags of src/client/oci/testing/scenarios.ts:
 * containerd 1.7's ctr must give exactly berth's spec, Debian's ctr 1.6 the
 * same but for ociVersion (1.0.2-dev) and the /sys/devices/virtual/powercap
 * masked path it does not have yet. ctr resolves users by mounting the
 * container's snapshot; berth reads the image's layers.
 *
 * With BERTH_UPDATE_GOLDEN=1 it (re)writes src/client/oci/testing/golden/,
 * which golden.test.ts checks without root.
 */

const root = process.getuid?.() === 0;
const CTR17 = '/var/tmp/containerd-1.7.13/bin/ctr';
const GOLDEN_DIR = join(import.meta.dirname, '../../src/client/oci/testing/golden');

/** A SpecClient reading the blobs of an OCI layout directory, which holds `image`. */
function layoutClient(layout: string, image: SpecImage): SpecClient {
  const blobPath = (d: Descriptor) => join(layout, 'blobs', ...d.digest.split(':'));
  return {
    namespace: SCENARIO_NAMESPACE,
    async *readBlob(desc) {
      if (!existsSync(blobPath(desc))) throw notFound(`content digest ${desc.digest}`);
      yield readFileSync(blobPath(desc));
    },
    getImage: async (name) => {
      if (name !== image.name) throw notFound(`image "${name}"`);
      return image;
    },
  };
}

function layoutImage(name: string, built: BuiltImage): SpecImage {
  return {
    name,
    manifest: async () => {
      const path = join(built.layout, 'blobs', ...built.manifest.digest.split(':'));
      return JSON.parse(readFileSync(path, 'utf8'));
    },
  };
}

describe('generated specs against ctr containers create', {
  skip: !root ? 'needs root' : !existsSync(CTR17) && `no containerd 1.7 ctr at ${CTR17}`,
}, () => {
  let dir: TempDir;
  let ctrdDir: TempDir;
  let reg: Registry;
  let containerd: Containerd;
  const images = new Map<string, BuiltImage & { pushed: Pushed }>();
  const ns = { namespace: SCENARIO_NAMESPACE };

  before(async () => {
    dir = tempDir();
    ctrdDir = tempDir();
    reg = await Registry.start(dir);
    containerd = await Containerd.start(ctrdDir);
    for (const s of SCENARIOS) {
      const img = await buildAndPush(
        dir,
        reg,
        {
          layers: [busyboxLayer(), ...s.image.layers.map((entries) => ({ entries: [...entries] }))],
          config: s.image.config,
        },
        `oci-spec/${s.name}:1`,
      );
      ctrOk(containerd.socket, ['images', 'pull', '--plain-http', img.pushed.ref], ns);
      images.set(s.name, img);
    }
  });

  after(async () => {
    await containerd?.stop();
    await reg?.stop();
    ctrdDir?.remove();
    dir?.remove();
  });

  /** The spec `ctr` (Debian's, or `bin`) stores for the scenario's container; the container is removed after. */
  function ctrSpec(s: Scenario, bin?: string): unknown {
    const ref = images.get(s.name)!.pushed.ref;
    const create = ['containers', 'create', ...s.flags, ref, s.name, ...s.args];
    if (bin) {
      const r = spawnSync(
        bin,
        ['--address', containerd.socket, '--namespace', SCENARIO_NAMESPACE, ...create],
        {
          encoding: 'utf8',
        },
      );
      assert.equal(r.status, 0, `${bin} ${create.join(' ')}: ${r.stdout}${r.stderr}`);
    } else {
      ctrOk(containerd.socket, create, ns);
    }
    try {
      return JSON.parse(ctrOk(containerd.socket, ['containers', 'info', s.name], ns)).Spec;
    } finally {
      ctrOk(containerd.socket, ['containers', 'rm', s.name], ns);
    }
  }

  async function berthSpec(s: Scenario) {
    const img = images.get(s.name)!;
    const image = layoutImage(img.pushed.ref, img);
    const container = {
      id: s.name,
      image: image.name,
      snapshotter: 'overlayfs',
      snapshotKey: s.name,
    };
    // through JSON, as the client stores it
    return JSON.parse(
      JSON.stringify(
        await generateSpec(
          layoutClient(img.layout, image),
          container,
          ...s.opts(image, hostname()),
        ),
      ),
    );
  }

  for (const s of SCENARIOS) {
    it(`${s.name}: containerd 1.7's ctr generates the same spec`, async () => {
      const theirs = ctrSpec(s, CTR17);
      assert.deepEqual(await berthSpec(s), theirs);
      if (process.env.BERTH_UPDATE_GOLDEN === '1' && !s.hostSpecific) {
        const golden: Golden = {
          recordedWith: 'ctr 1.7.13 containers create, against containerd 1.6.20',
          hostname: hostname(),
          spec: theirs,
        };
        const file = join(GOLDEN_DIR, `${s.name}.json`);
        writeFileSync(file, `${JSON.stringify(golden, null, 2)}\n`);
        // in the project's JSON style, so that lint passes on what was recorded
        const fmt = spawnSync('npx', ['biome', 'format', '--write', file], { encoding: 'utf8' });
        assert.equal(fmt.status, 0, fmt.stderr);
      }
    });

    if (s.ctr16) {
      it(`${s.name}: Debian's ctr 1.6 generates it but for ociVersion and the powercap mask`, async () => {
        const theirs = ctrSpec(s) as { ociVersion: string; linux: { maskedPaths: string[] } };
        const ours = await berthSpec(s);
        assert.equal(theirs.ociVersion, '1.0.2-dev');
        ours.ociVersion = theirs.ociVersion;
        if (ours.linux.maskedPaths) {
          ours.linux.maskedPaths = ours.linux.maskedPaths.filter(
            (p: string) => p !== '/sys/devices/virtual/powercap',
          );
        }
        assert.deepEqual(ours, theirs);
      });
    }
  }
});
