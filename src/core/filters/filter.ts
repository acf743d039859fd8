import type { Adaptor } from './adaptor.js';

/**
 * A parsed filter. Filters are immutable and reusable: parse once, then call
 * `match` for each object.
 */
export interface Filter {
  /** Reports whether the object behind `adaptor` satisfies the filter. */
  match(adaptor: Adaptor): boolean;
}

export type Operator = '==' | '!=' | '~=';

/** Matches everything; what an empty filter string parses to. */
export const alwaysMatch: Filter = Object.freeze({ match: () => true });

/** Matches when every filter matches (true for none). */
export function matchAll(filters: readonly Filter[]): Filter {
  const list = [...filters];
  return Object.freeze({
    match: (adaptor: Adaptor) => list.every((filter) => filter.match(adaptor)),
  });
}

/** Matches when at least one filter matches (false for none). */
export function matchAny(filters: readonly Filter[]): Filter {
  const list = [...filters];
  return Object.freeze({
    match: (adaptor: Adaptor) => list.some((filter) => filter.match(adaptor)),
  });
}

/**
 * One `fieldpath[op value]` test, with containerd's semantics; an absent
 * field reads as the empty string for `!=` and `~=`:
 * - no operator: the field is present;
 * - `==`: the field is present and equal to `value`;
 * - `!=`: the field is not equal to `value` (so absent fields match unless
 *   `value` is empty);
 * - `~=`: `regexp` matches somewhere in the field.
 */
export function selector(
  fieldpath: readonly string[],
  test:
    | { readonly operator: '==' | '!='; readonly value: string }
    | { readonly operator: '~='; readonly regexp: RegExp }
    | undefined,
): Filter {
  const path = Object.freeze([...fieldpath]);
  if (test === undefined) {
    return Object.freeze({ match: (adaptor: Adaptor) => adaptor(path) !== undefined });
  }
  switch (test.operator) {
    case '==': {
      const { value } = test;
      return Object.freeze({ match: (adaptor: Adaptor) => adaptor(path) === value });
    }
    case '!=': {
      const { value } = test;
      return Object.freeze({ match: (adaptor: Adaptor) => (adaptor(path) ?? '') !== value });
    }
    case '~=': {
      const { regexp } = test;
      return Object.freeze({ match: (adaptor: Adaptor) => regexp.test(adaptor(path) ?? '') });
    }
  }
}
