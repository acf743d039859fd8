import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { generateSpec } from './spec.js';
import { MemoryContent } from './testing/images.js';
import { type Golden, ociConfig, SCENARIO_NAMESPACE, SCENARIOS } from './testing/scenarios.js';

/**
 * The specs `ctr containers create` (containerd 1.7.13) generated for the
 * scenarios of testing/scenarios.ts, recorded in testing/golden/ by
 * test/e2e/oci-spec.e2e.test.ts (as root: `BERTH_UPDATE_GOLDEN=1 node
 * --import tsx --test test/e2e/oci-spec.e2e.test.ts`), against berth's
 * generation from the same image config and /etc layers held in memory.
 *
 * What ctr's spec depends on beyond the scenario: the host's name, which
 * `--net-host` puts in HOSTNAME (read from the golden), and nothing of the
 * busybox layer under the scenario's layers (a stand-in layer here).
 */
describe('generateSpec against the specs ctr recorded', () => {
  for (const s of SCENARIOS.filter((s) => !s.hostSpecific)) {
    it(s.name, async () => {
      const golden = JSON.parse(
        readFileSync(join(import.meta.dirname, 'testing/golden', `${s.name}.json`), 'utf8'),
      ) as Golden;
      const content = new MemoryContent();
      const base = await content.layer([
        { type: 'dir', path: 'bin' },
        { type: 'file', path: 'bin/busybox', content: 'a stand-in', mode: 0o755 },
      ]);
      const layers = [base];
      for (const entries of s.image.layers) layers.push(await content.layer(entries));
      const image = content.image(
        `127.0.0.1:5000/oci-spec/${s.name}:1`,
        ociConfig(s.image.config),
        layers,
      );
      const container = {
        id: s.name,
        image: image.name,
        snapshotter: 'overlayfs',
        snapshotKey: s.name,
      };
      const spec = await generateSpec(
        content.client(SCENARIO_NAMESPACE),
        container,
        ...s.opts(image, golden.hostname),
      );
      assert.deepEqual(JSON.parse(JSON.stringify(spec)), golden.spec);
    });
  }
});
