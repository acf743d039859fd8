/**
 * A parser for Go (RE2) regular expression syntax, following RE2's rules
 * and error texts, into a small tree of JavaScript `u`-mode fragments.
 */
import {
  type ClassItem,
  isCased,
  perlItem,
  posixItem,
  rangeItem,
  unicodeItem,
} from './re2-tables.js';

/** A pattern RE2 would reject, or that cannot be expressed in JavaScript. */
export class Re2SyntaxError extends Error {}

export type Node =
  | { readonly type: 'char'; readonly cp: number }
  | { readonly type: 'set'; readonly source: string }
  | { readonly type: 'assert'; readonly source: string }
  | { readonly type: 'group'; readonly alternatives: readonly (readonly Node[])[] }
  | {
      readonly type: 'repeat';
      readonly sub: Node;
      readonly min: number;
      readonly max: number;
      readonly counted: boolean;
      readonly op: string;
    };

interface Flags {
  fold: boolean;
  multiLine: boolean;
  dotNL: boolean;
}

/** RE2's largest repeat count, and its limit on nested counted repeats. */
export const MAX_REPEAT = 1000;
const MAX_DEPTH = 1000;

/** Parses one pattern; `foldStates` records whether `(?i)` was on wherever case mattered. */
export class Re2Parser {
  readonly foldStates = new Set<boolean>();
  #pos = 0;
  #depth = 0;
  #flags: Flags = { fold: false, multiLine: false, dotNL: false };

  constructor(readonly src: string) {}

  parse(): Node {
    const alternatives = this.#alternation();
    if (this.#pos < this.src.length) {
      throw this.#error('unexpected )', this.src);
    }
    return { type: 'group', alternatives };
  }

  /** Parses alternatives up to an unmatched `)` or the end; flags set inside stay inside. */
  #alternation(): Node[][] {
    const saved = { ...this.#flags };
    let current: Node[] = [];
    const alternatives = [current];
    let lastWasRepeat = false;
    while (this.#pos < this.src.length) {
      const start = this.#pos;
      const ch = this.src[start];
      let repeated = false;
      if (ch === ')') {
        break;
      }
      switch (ch) {
        case '|':
          this.#pos++;
          current = [];
          alternatives.push(current);
          break;
        case '(':
          this.#group(current);
          break;
        case '[':
          current.push(this.#class());
          break;
        case '*':
        case '+':
        case '?': {
          this.#pos++;
          const [min, max] = ch === '*' ? [0, -1] : ch === '+' ? [1, -1] : [0, 1];
          this.#repeat(current, start, { min, max, counted: false }, lastWasRepeat);
          repeated = true;
          break;
        }
        case '{': {
          const counted = this.#countedRepeat();
          if (counted === undefined) {
            this.#pos++;
            current.push({ type: 'char', cp: 0x7b });
          } else {
            this.#repeat(current, start, { ...counted, counted: true }, lastWasRepeat);
            repeated = true;
          }
          break;
        }
        case '.':
          this.#pos++;
          current.push({ type: 'set', source: this.#flags.dotNL ? '[\\s\\S]' : '[^\\n]' });
          break;
        case '^':
          this.#pos++;
          current.push({ type: 'assert', source: this.#flags.multiLine ? '(?<=^|\\n)' : '^' });
          break;
        case '$':
          this.#pos++;
          current.push({ type: 'assert', source: this.#flags.multiLine ? '(?=$|\\n)' : '$' });
          break;
        case '\\':
          this.#escape(current);
          break;
        default:
          current.push(this.#literal(this.#nextCodePoint()));
      }
      lastWasRepeat = repeated;
    }
    this.#flags = saved;
    return alternatives;
  }

  #group(current: Node[]): void {
    const start = this.#pos;
    this.#pos++;
    let flags = this.#flags;
    if (this.src[this.#pos] === '?') {
      this.#pos++;
      if (!this.#namedGroup(start)) {
        const perl = this.#perlFlags(start);
        if (!perl.opensGroup) {
          this.#flags = perl.flags;
          return;
        }
        flags = perl.flags;
      }
    }
    if (++this.#depth > MAX_DEPTH) {
      throw this.#error('expression nests too deeply', this.src);
    }
    const outer = this.#flags;
    this.#flags = { ...flags };
    const alternatives = this.#alternation();
    this.#flags = outer;
    this.#depth--;
    if (this.src[this.#pos] !== ')') {
      throw this.#error('missing closing )', this.src);
    }
    this.#pos++;
    current.push({ type: 'group', alternatives });
  }

  /** After `(?`: consumes `P<name>` or `<name>`; reports whether it did. */
  #namedGroup(start: number): boolean {
    const rest = this.src.slice(this.#pos);
    const prefix = rest.startsWith('P<') ? 2 : rest.startsWith('<') && !/^<[=!]/.test(rest) ? 1 : 0;
    if (prefix === 0) {
      return false;
    }
    const end = rest.indexOf('>');
    const name = end < 0 ? '' : rest.slice(prefix, end);
    if (!/^[A-Za-z0-9_]+$/.test(name)) {
      throw this.#error(
        'invalid named capture',
        this.src.slice(start, end < 0 ? undefined : this.#pos + end + 1),
      );
    }
    this.#pos += end + 1;
    return true;
  }

  /**
   * After `(?`: consumes flags up to `)`, which sets them for the rest of the
   * enclosing group, or `:`, which opens a group with them.
   */
  #perlFlags(start: number): { flags: Flags; opensGroup: boolean } {
    const flags = { ...this.#flags };
    let negate = false;
    let sawFlag = false;
    while (this.#pos < this.src.length) {
      const ch = this.src[this.#pos++];
      if (ch === 'i' || ch === 'm' || ch === 's' || ch === 'U') {
        if (ch === 'i') {
          flags.fold = !negate;
        } else if (ch === 'm') {
          flags.multiLine = !negate;
        } else if (ch === 's') {
          flags.dotNL = !negate;
        }
        sawFlag = true;
      } else if (ch === '-' && !negate) {
        negate = true;
        sawFlag = false;
      } else if ((ch === ':' || ch === ')') && (sawFlag || !negate)) {
        return { flags, opensGroup: ch === ':' };
      } else {
        break;
      }
    }
    throw this.#error('invalid or unsupported Perl syntax', this.src.slice(start, this.#pos));
  }

  #repeat(
    current: Node[],
    start: number,
    spec: { min: number; max: number; counted: boolean },
    lastWasRepeat: boolean,
  ): void {
    if (this.src[this.#pos] === '?') {
      this.#pos++;
    }
    const op = this.src.slice(start, this.#pos);
    const sub = current.pop();
    if (sub === undefined) {
      throw this.#error('missing argument to repetition operator', op);
    }
    if (lastWasRepeat && sub.type === 'repeat') {
      throw this.#error('invalid nested repetition operator', `${sub.op}${op}`);
    }
    current.push({ type: 'repeat', sub, op, ...spec });
  }

  /** At `{`: consumes `{n}`, `{n,}` or `{n,m}` if that is what follows. */
  #countedRepeat(): { min: number; max: number } | undefined {
    const match = /^\{(0|[1-9][0-9]*)(,(0|[1-9][0-9]*)?)?\}/.exec(this.src.slice(this.#pos));
    if (match === null) {
      return undefined;
    }
    const min = Number(match[1]);
    const max = match[2] === undefined ? min : match[3] === undefined ? -1 : Number(match[3]);
    if (min > MAX_REPEAT || max > MAX_REPEAT || (max >= 0 && min > max)) {
      throw this.#error('invalid repeat count', match[0]);
    }
    this.#pos += match[0].length;
    return { min, max };
  }

  #escape(current: Node[]): void {
    const start = this.#pos;
    const letter = this.src[start + 1];
    switch (letter) {
      case 'A':
        this.#pos += 2;
        current.push({ type: 'assert', source: '^' });
        return;
      case 'z':
        this.#pos += 2;
        current.push({ type: 'assert', source: '$' });
        return;
      case 'b':
      case 'B':
        this.#pos += 2;
        current.push({ type: 'assert', source: `\\${letter}` });
        return;
      case 'Q': {
        const end = this.src.indexOf('\\E', start + 2);
        const text = this.src.slice(start + 2, end < 0 ? undefined : end);
        this.#pos = end < 0 ? this.src.length : end + 2;
        for (const ch of text) {
          current.push(this.#literal(ch.codePointAt(0) ?? 0));
        }
        return;
      }
      case 'p':
      case 'P':
        current.push(this.#set([this.#unicodeClass()], false));
        return;
    }
    const perl = letter === undefined ? undefined : perlItem(letter);
    if (perl !== undefined) {
      this.#pos += 2;
      current.push(this.#set([perl], false));
      return;
    }
    current.push(this.#literal(this.#escapedCodePoint()));
  }

  /** At `\`: a character escape (octal, hex, control letters, punctuation). */
  #escapedCodePoint(): number {
    const start = this.#pos;
    this.#pos++;
    if (this.#pos >= this.src.length) {
      throw this.#error('trailing backslash at end of expression', '');
    }
    const ch = this.#nextCodePoint();
    const letter = String.fromCodePoint(ch);
    const invalid = (): Re2SyntaxError =>
      this.#error('invalid escape sequence', this.src.slice(start, this.#pos));
    if (letter >= '1' && letter <= '7' && !/^[0-7]/.test(this.src.slice(this.#pos))) {
      throw invalid();
    }
    if (letter >= '0' && letter <= '7') {
      const digits = /^[0-7]{0,2}/.exec(this.src.slice(this.#pos))?.[0] ?? '';
      this.#pos += digits.length;
      return Number.parseInt(letter + digits, 8);
    }
    if (letter === 'x') {
      const braced = /^\{([0-9A-Fa-f]*)(\}?)/.exec(this.src.slice(this.#pos));
      if (braced !== null) {
        const hex = braced[1] ?? '';
        const value = hex === '' ? Number.NaN : Number.parseInt(hex, 16);
        this.#pos += braced[0].length;
        if (braced[2] !== '}' || !(value <= 0x10ffff)) {
          throw invalid();
        }
        return value;
      }
      const hex = /^[0-9A-Fa-f]{2}/.exec(this.src.slice(this.#pos))?.[0];
      if (hex === undefined) {
        this.#pos = Math.min(this.#pos + 1, this.src.length);
        throw invalid();
      }
      this.#pos += 2;
      return Number.parseInt(hex, 16);
    }
    const control = CONTROL_ESCAPES[letter];
    if (control !== undefined) {
      return control;
    }
    if (ch < 0x80 && !/[A-Za-z0-9]/.test(letter)) {
      return ch;
    }
    throw invalid();
  }

  /** At `\p` or `\P`: `\pL`, `\p{Name}` or `\p{^Name}`. */
  #unicodeClass(): ClassItem {
    const start = this.#pos;
    let negated = this.src[start + 1] === 'P';
    this.#pos += 2;
    let name: string;
    if (this.src[this.#pos] === '{') {
      const end = this.src.indexOf('}', this.#pos);
      if (end < 0) {
        this.#pos = this.src.length;
        throw this.#error('invalid character class range', this.src.slice(start));
      }
      name = this.src.slice(this.#pos + 1, end);
      this.#pos = end + 1;
    } else {
      name = this.#pos < this.src.length ? String.fromCodePoint(this.#nextCodePoint()) : '';
    }
    if (name.startsWith('^')) {
      negated = !negated;
      name = name.slice(1);
    }
    const item = unicodeItem(name, negated);
    if (item === undefined) {
      throw this.#error('invalid character class range', this.src.slice(start, this.#pos));
    }
    return item;
  }

  /** At `[`: a bracketed class. */
  #class(): Node {
    const start = this.#pos;
    this.#pos++;
    const negated = this.src[this.#pos] === '^';
    if (negated) {
      this.#pos++;
    }
    const items: ClassItem[] = [];
    let first = true;
    for (;;) {
      if (this.#pos >= this.src.length) {
        throw this.#error('missing closing ]', this.src.slice(start));
      }
      const ch = this.src[this.#pos];
      if (ch === ']' && !first) {
        this.#pos++;
        break;
      }
      first = false;
      if (ch === '[' && this.src[this.#pos + 1] === ':') {
        const end = this.src.indexOf(':]', this.#pos + 2);
        if (end >= 0) {
          const posix = posixItem(this.src.slice(this.#pos + 2, end));
          if (posix === undefined) {
            throw this.#error('invalid character class range', this.src.slice(this.#pos, end + 2));
          }
          items.push(posix);
          this.#pos = end + 2;
          continue;
        }
      }
      if (ch === '\\') {
        const letter = this.src[this.#pos + 1];
        if (letter === 'p' || letter === 'P') {
          items.push(this.#unicodeClass());
          continue;
        }
        const perl = letter === undefined ? undefined : perlItem(letter);
        if (perl !== undefined) {
          this.#pos += 2;
          items.push(perl);
          continue;
        }
      }
      const rangeStart = this.#pos;
      const lo = this.#classChar(start);
      let hi = lo;
      if (
        this.src[this.#pos] === '-' &&
        this.#pos + 1 < this.src.length &&
        this.src[this.#pos + 1] !== ']'
      ) {
        this.#pos++;
        hi = this.#classChar(start);
        if (hi < lo) {
          throw this.#error('invalid character class range', this.src.slice(rangeStart, this.#pos));
        }
      }
      items.push(rangeItem(lo, hi));
    }
    return this.#set(items, negated);
  }

  #classChar(classStart: number): number {
    if (this.#pos >= this.src.length) {
      throw this.#error('missing closing ]', this.src.slice(classStart));
    }
    return this.src[this.#pos] === '\\' ? this.#escapedCodePoint() : this.#nextCodePoint();
  }

  #set(items: readonly ClassItem[], negated: boolean): Node {
    if (items.some((item) => item.cased)) {
      this.foldStates.add(this.#flags.fold);
    }
    return {
      type: 'set',
      source: `[${negated ? '^' : ''}${items.map((item) => item.source).join('')}]`,
    };
  }

  #literal(cp: number): Node {
    if (isCased(cp)) {
      this.foldStates.add(this.#flags.fold);
    }
    return { type: 'char', cp };
  }

  #nextCodePoint(): number {
    const cp = this.src.codePointAt(this.#pos) ?? 0;
    this.#pos += cp > 0xffff ? 2 : 1;
    return cp;
  }

  #error(reason: string, expr: string): Re2SyntaxError {
    return new Re2SyntaxError(`${reason}: \`${expr}\``);
  }
}

const CONTROL_ESCAPES: Readonly<Record<string, number>> = {
  a: 0x07,
  f: 0x0c,
  n: 0x0a,
  r: 0x0d,
  t: 0x09,
  v: 0x0b,
};
