/**
 * Character-level reading of filter strings. The parser drives the scanner,
 * asking for the token it expects next (field, operator, value), which keeps
 * Go's context-dependent lexing without a mode flag.
 */
import type { Operator } from './filter.js';
import { type Quoted, QuoteError, readQuoted } from './quote.js';

/** A syntax error at `position` (a UTF-16 index into the filter string), with optional detail. */
export class FilterSyntaxError extends Error {
  constructor(
    readonly reason: string,
    readonly position: number,
    readonly detail?: string,
  ) {
    super(reason);
  }
}

/** A token's text and where it starts. */
export interface Lexeme {
  readonly text: string;
  readonly position: number;
}

export interface ValueLexeme extends Lexeme {
  /** The quote character that delimited the value, if any. */
  readonly quote: '"' | '/' | '|' | undefined;
}

const FIELD_CHAR = /[A-Za-z0-9_]/;
const SPACE = /\p{White_Space}/u;
/** Graphic characters (letters, marks, numbers, punctuation, symbols): what Go's scanner accepts in bare values. */
const GRAPHIC = /[\p{L}\p{M}\p{N}\p{P}\p{S}]/u;
const INVALID = /[\0\p{Cs}]/u;

function isOperatorChar(ch: string | undefined): boolean {
  return ch === '=' || ch === '!' || ch === '~';
}

export class Scanner {
  #pos = 0;

  /**
   * @param input the filter string
   * @param pipeOr whether `|` at a selector boundary separates alternatives
   */
  constructor(
    readonly input: string,
    readonly pipeOr: boolean,
  ) {
    const bad = INVALID.exec(input);
    if (bad !== null) {
      throw new FilterSyntaxError(
        bad[0] === '\0' ? 'unexpected null character' : 'invalid UTF-16: lone surrogate',
        bad.index,
      );
    }
  }

  get position(): number {
    return this.#pos;
  }

  /** Skips white space and returns the next character, or undefined at the end. */
  peek(): string | undefined {
    while (this.#pos < this.input.length && SPACE.test(this.input[this.#pos] ?? '')) {
      this.#pos++;
    }
    return this.input[this.#pos];
  }

  /** Consumes `ch` if it is next; reports whether it was. */
  accept(ch: string): boolean {
    if (this.peek() !== ch) {
      return false;
    }
    this.#pos++;
    return true;
  }

  /** Reads a field: a bare `[A-Za-z0-9_]+` or a double-quoted string. */
  field(): Lexeme {
    const ch = this.peek();
    const position = this.#pos;
    if (ch === '"') {
      return { text: this.#quoted().value, position };
    }
    if (ch === '/' || (ch === '|' && !this.pipeOr)) {
      throw new FilterSyntaxError(
        `invalid quote ${JSON.stringify(ch)}: field names can only be quoted with '"'`,
        position,
      );
    }
    if (ch === undefined || !FIELD_CHAR.test(ch)) {
      throw new FilterSyntaxError('expected field name or quoted field', position);
    }
    while (FIELD_CHAR.test(this.input[this.#pos] ?? '')) {
      this.#pos++;
    }
    return { text: this.input.slice(position, this.#pos), position };
  }

  /** Reads an operator; returns undefined, consuming nothing, if none is next. */
  operator(): (Lexeme & { readonly text: Operator }) | undefined {
    this.peek();
    const position = this.#pos;
    let end = position;
    while (isOperatorChar(this.input[end])) {
      end++;
    }
    if (end === position) {
      return undefined;
    }
    const text = this.input.slice(position, end);
    if (text !== '==' && text !== '!=' && text !== '~=') {
      throw new FilterSyntaxError(
        `unsupported operator ${JSON.stringify(text)}, expected "==", "!=" or "~="`,
        position,
      );
    }
    this.#pos = end;
    return { text, position };
  }

  /**
   * Reads a value: a quoted string or a run of graphic characters other than
   * `,`. A `|` inside a bare value belongs to it (`name~=^(a|b)`), exactly as
   * in containerd; OR needs a boundary (see index.ts). A bare value cannot
   * start with `.`, `,` or an operator character, as in containerd.
   */
  value(): ValueLexeme {
    const ch = this.peek();
    const position = this.#pos;
    if (ch === '"' || ch === '/' || ch === '|') {
      return { text: this.#quoted().value, position, quote: ch };
    }
    if (
      ch === undefined ||
      ch === '.' ||
      isOperatorChar(ch) ||
      !this.#isValueChar(this.#charAt(position))
    ) {
      throw new FilterSyntaxError('expected value or quoted value', position);
    }
    while (this.#pos < this.input.length) {
      const next = this.#charAt(this.#pos);
      if (!this.#isValueChar(next)) {
        break;
      }
      this.#pos += next.length;
    }
    return { text: this.input.slice(position, this.#pos), position, quote: undefined };
  }

  /** The whole code point at `index`. */
  #charAt(index: number): string {
    const cp = this.input.codePointAt(index);
    return cp === undefined ? '' : String.fromCodePoint(cp);
  }

  #isValueChar(ch: string): boolean {
    return ch !== ',' && !SPACE.test(ch) && GRAPHIC.test(ch);
  }

  #quoted(): Quoted {
    const start = this.#pos;
    try {
      const quoted = readQuoted(this.input, start);
      this.#pos = quoted.end;
      return quoted;
    } catch (err) {
      if (err instanceof QuoteError) {
        throw new FilterSyntaxError(err.reason, start + err.offset);
      }
      throw err;
    }
  }
}
