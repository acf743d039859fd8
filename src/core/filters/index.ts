/**
 * @module
 * containerd's filter language, used by List and event APIs to select
 * objects by field.
 *
 * ```
 * filters   := filter ("|" filter)*          (berth extension, see below)
 * filter    := selector ("," selector)*      (AND)
 * selector  := fieldpath [operator value]
 * fieldpath := field ("." field)*
 * field     := [A-Za-z0-9_]+ | quoted
 * operator  := "==" | "!=" | "~="
 * value     := quoted | /regexp/ | |regexp| | bare
 * bare      := graphic characters other than ",", not starting with ".", "=", "!" or "~"
 * quoted    := "..." with Go string escapes
 * ```
 *
 * - A selector without an operator tests that the field is present.
 * - `==` matches a present field with exactly that value; `!=` matches any
 *   other value, including an absent field (read as `""`).
 * - `~=` takes a Go (RE2) regular expression and matches when it matches
 *   anywhere in the value (an absent field reads as `""`). Only `~=` values
 *   may be quoted with `/.../` or `|...|`; quoted values use Go string
 *   escapes, so a regexp backslash is written `\\` inside quotes.
 * - Several filter strings ({@link parseFilters}) match when any of them does,
 *   like containerd's `ParseAll`.
 * - Berth extension: within one string, `|` between selectors means OR and
 *   binds looser than `,`: `a==1,b==2 | c` is `(a==1 AND b==2) OR c`. It is
 *   only read as OR where containerd's grammar has no meaning for it (after
 *   white space, a quoted value or a field without operator), so every filter
 *   containerd accepts means the same here: in `name~=^(a|b)` and
 *   `name==a|b` the `|` is part of the bare value, as in containerd. Write
 *   `name==a | name==b` or `name=="a"|name=="b"`. `{ pipeOr: false }` turns
 *   the extension off.
 * - White space between tokens is ignored (containerd rejects some of it).
 * - Regular expressions are checked when parsing; containerd accepts an
 *   invalid one and then matches nothing.
 *
 * @example
 * ```ts
 * const filter = parseFilter('name~=^docker.io/,labels."io.cri-containerd.image"==managed');
 * const images = all.filter((image) => filter.match(fieldsAdaptor(image)));
 * ```
 */
export { type Adaptor, fieldsAdaptor } from './adaptor.js';
export { alwaysMatch, type Filter, matchAll, matchAny, type Operator } from './filter.js';
export { type ParseOptions, parseFilter, parseFilters } from './parser.js';
