import { alreadyExists, invalidArgument, notFound } from '../../core/errdefs/index.js';

/**
 * Full ids by unique prefix, as containerd's CRI keeps them (docker's
 * truncindex): `get` answers the one id a prefix names, `not_found` when
 * none does and `invalid_argument` when several do. Ids are 64 hex digits,
 * so a sorted array and a binary search stay small and fast.
 */
export class TruncIndex {
  readonly #ids: string[] = [];

  add(id: string): void {
    if (id === '' || /\s/.test(id)) throw invalidArgument(`illegal id ${JSON.stringify(id)}`);
    const at = this.#lowerBound(id);
    if (this.#ids[at] === id) throw alreadyExists(`id ${id}`);
    this.#ids.splice(at, 0, id);
  }

  delete(id: string): void {
    const at = this.#lowerBound(id);
    if (this.#ids[at] === id) this.#ids.splice(at, 1);
  }

  /** The full id `prefix` names. */
  get(prefix: string): string {
    if (prefix === '') throw notFound('id: an empty prefix names nothing');
    const at = this.#lowerBound(prefix);
    const first = this.#ids[at];
    if (first === undefined || !first.startsWith(prefix)) throw notFound(`id ${prefix}`);
    if (first !== prefix && this.#ids[at + 1]?.startsWith(prefix)) {
      throw invalidArgument(`id prefix ${JSON.stringify(prefix)} is ambiguous: it names several`);
    }
    return first;
  }

  has(id: string): boolean {
    return this.#ids[this.#lowerBound(id)] === id;
  }

  get size(): number {
    return this.#ids.length;
  }

  #lowerBound(s: string): number {
    let lo = 0;
    let hi = this.#ids.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((this.#ids[mid] as string) < s) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}
