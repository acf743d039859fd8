/**
 * RE2's named character classes and how each is written in a JavaScript
 * `u`-mode character class.
 */

type Range = readonly [number, number];

const MAX_CODE_POINT = 0x10ffff;

/** Go's `[:name:]` classes, as code point ranges. */
const POSIX: Readonly<Record<string, readonly Range[]>> = {
  alnum: [
    [0x30, 0x39],
    [0x41, 0x5a],
    [0x61, 0x7a],
  ],
  alpha: [
    [0x41, 0x5a],
    [0x61, 0x7a],
  ],
  ascii: [[0x00, 0x7f]],
  blank: [
    [0x09, 0x09],
    [0x20, 0x20],
  ],
  cntrl: [
    [0x00, 0x1f],
    [0x7f, 0x7f],
  ],
  digit: [[0x30, 0x39]],
  graph: [[0x21, 0x7e]],
  lower: [[0x61, 0x7a]],
  print: [[0x20, 0x7e]],
  punct: [
    [0x21, 0x2f],
    [0x3a, 0x40],
    [0x5b, 0x60],
    [0x7b, 0x7e],
  ],
  space: [
    [0x09, 0x0d],
    [0x20, 0x20],
  ],
  upper: [[0x41, 0x5a]],
  word: [
    [0x30, 0x39],
    [0x41, 0x5a],
    [0x5f, 0x5f],
    [0x61, 0x7a],
  ],
  xdigit: [
    [0x30, 0x39],
    [0x41, 0x46],
    [0x61, 0x66],
  ],
};

/** RE2's `\s` is ASCII-only and, unlike JavaScript's, excludes `\v`. */
const PERL_SPACE: readonly Range[] = [
  [0x09, 0x0a],
  [0x0c, 0x0d],
  [0x20, 0x20],
];

/** POSIX classes whose members have case variants (so `(?i)` matters). */
const POSIX_CASED = new Set([
  'alnum',
  'alpha',
  'ascii',
  'graph',
  'lower',
  'print',
  'upper',
  'word',
  'xdigit',
]);

/** Go's unicode.Categories (Go's `C` has no unassigned code points; JavaScript's has). */
const CATEGORIES = new Set(
  'C Cc Cf Co Cs L Ll Lm Lo Lt Lu M Mc Me Mn N Nd Nl No P Pc Pd Pe Pf Pi Po Ps S Sc Sk Sm So Z Zl Zp Zs'.split(
    ' ',
  ),
);

/** A piece of a JavaScript character class and whether `(?i)` could change what it matches. */
export interface ClassItem {
  readonly source: string;
  readonly cased: boolean;
}

const PRINTABLE = /^[\p{L}\p{M}\p{N}\p{P}\p{S} ]$/u;
const SYNTAX_CHARS = new Set('^$\\.*+?()[]{}|/');
const CLASS_SYNTAX_CHARS = new Set('\\]-[^');

/** `cp` written for a JavaScript `u`-mode pattern, inside a class or not. */
export function escapeCodePoint(cp: number, inClass: boolean): string {
  const ch = String.fromCodePoint(cp);
  if ((inClass ? CLASS_SYNTAX_CHARS : SYNTAX_CHARS).has(ch)) {
    return `\\${ch}`;
  }
  return PRINTABLE.test(ch) ? ch : `\\u{${cp.toString(16)}}`;
}

/** Whether `cp` has case variants. */
export function isCased(cp: number): boolean {
  const ch = String.fromCodePoint(cp);
  return ch.toLowerCase() !== ch || ch.toUpperCase() !== ch;
}

export function rangeItem(lo: number, hi: number): ClassItem {
  const source =
    lo === hi
      ? escapeCodePoint(lo, true)
      : `${escapeCodePoint(lo, true)}-${escapeCodePoint(hi, true)}`;
  const touchesLetters = hi >= 0x80 || (lo <= 0x7a && hi >= 0x61) || (lo <= 0x5a && hi >= 0x41);
  return { source, cased: lo === hi ? isCased(lo) : touchesLetters };
}

function rangesSource(ranges: readonly Range[]): string {
  return ranges.map(([lo, hi]) => rangeItem(lo, hi).source).join('');
}

function complement(ranges: readonly Range[]): Range[] {
  const out: Range[] = [];
  let next = 0;
  for (const [lo, hi] of ranges) {
    if (lo > next) {
      out.push([next, lo - 1]);
    }
    next = hi + 1;
  }
  if (next <= MAX_CODE_POINT) {
    out.push([next, MAX_CODE_POINT]);
  }
  return out;
}

/** A `[:name:]` or `[:^name:]` class, or undefined for an unknown name. */
export function posixItem(name: string): ClassItem | undefined {
  const negated = name.startsWith('^');
  const base = negated ? name.slice(1) : name;
  const ranges = Object.hasOwn(POSIX, base) ? POSIX[base] : undefined;
  if (ranges === undefined) {
    return undefined;
  }
  return {
    source: rangesSource(negated ? complement(ranges) : ranges),
    cased: negated || POSIX_CASED.has(base),
  };
}

/** `\d \D \s \S \w \W` as class content, or undefined for another letter. */
export function perlItem(letter: string): ClassItem | undefined {
  switch (letter) {
    case 'd':
    case 'D':
      return { source: `\\${letter}`, cased: false };
    case 'w':
    case 'W':
      return { source: `\\${letter}`, cased: true };
    case 's':
      return { source: rangesSource(PERL_SPACE), cased: false };
    case 'S':
      return { source: rangesSource(complement(PERL_SPACE)), cased: false };
    default:
      return undefined;
  }
}

/** `\p{name}` (or `\P{name}` when negated) in JavaScript, or undefined for an unknown name. */
export function unicodeItem(name: string, negated: boolean): ClassItem | undefined {
  let property: string;
  if (name === 'Any') {
    property = 'Any';
  } else if (CATEGORIES.has(name)) {
    property = name;
  } else if (/^[A-Z][A-Za-z_]*$/.test(name)) {
    property = `Script=${name}`;
  } else {
    return undefined;
  }
  const source = `\\${negated ? 'P' : 'p'}{${property}}`;
  try {
    new RegExp(source, 'u');
  } catch {
    return undefined;
  }
  return { source, cased: true };
}
