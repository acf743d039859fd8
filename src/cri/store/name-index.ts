import { alreadyExists, invalidArgument } from '../../core/errdefs/index.js';

/**
 * Names reserved for ids (containerd's registrar): a CRI name belongs to one
 * sandbox or container from the moment its creation starts until it is
 * removed, so two concurrent RunPodSandbox calls for one pod cannot both
 * proceed. Reserving a name again for the same id is allowed.
 */
export class NameIndex {
  readonly #byName = new Map<string, string>();
  readonly #byKey = new Map<string, string>();

  reserve(name: string, key: string): void {
    if (name === '') throw invalidArgument('reserve: an empty name');
    if (key === '') throw invalidArgument('reserve: an empty key');
    const holder = this.#byName.get(name);
    if (holder !== undefined) {
      if (holder === key) return;
      throw alreadyExists(`name ${JSON.stringify(name)} is reserved for ${JSON.stringify(holder)}`);
    }
    const old = this.#byKey.get(key);
    if (old !== undefined) {
      throw alreadyExists(`key ${JSON.stringify(key)} already holds name ${JSON.stringify(old)}`);
    }
    this.#byName.set(name, key);
    this.#byKey.set(key, name);
  }

  releaseByName(name: string): void {
    const key = this.#byName.get(name);
    if (key === undefined) return;
    this.#byName.delete(name);
    this.#byKey.delete(key);
  }

  releaseByKey(key: string): void {
    const name = this.#byKey.get(key);
    if (name === undefined) return;
    this.#byKey.delete(key);
    this.#byName.delete(name);
  }

  get(name: string): string | undefined {
    return this.#byName.get(name);
  }
}
