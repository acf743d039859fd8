import { isNotFound, notFound } from '../../core/errdefs/index.js';
import { TruncIndex } from '../store/index.js';
import type { Sandbox, SandboxInfo, SandboxLookup } from './sandbox.js';

/** The sandboxes in memory, by id or unique prefix (containerd's sandboxstore). */
export class SandboxStore implements SandboxLookup {
  readonly #byId = new Map<string, Sandbox>();
  readonly #ids = new TruncIndex();

  add(sb: Sandbox): void {
    this.#ids.add(sb.id);
    this.#byId.set(sb.id, sb);
  }

  /** The sandbox `idOrPrefix` names; `not_found` (or `invalid_argument` for an ambiguous prefix). */
  sandbox(idOrPrefix: string): Sandbox {
    let id: string;
    try {
      id = this.#ids.get(idOrPrefix);
    } catch (err) {
      if (isNotFound(err)) {
        throw notFound(`sandbox ${JSON.stringify(idOrPrefix)}`, { cause: err });
      }
      throw err;
    }
    return this.#byId.get(id) as Sandbox;
  }

  get(idOrPrefix: string): SandboxInfo {
    return this.sandbox(idOrPrefix).info();
  }

  delete(id: string): void {
    this.#ids.delete(id);
    this.#byId.delete(id);
  }

  list(): Sandbox[] {
    return [...this.#byId.values()];
  }
}
