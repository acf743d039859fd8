/** Decoding of quoted filter strings: Go string-literal escapes. */

/** A malformed quoted string; `offset` is relative to the opening quote. */
export class QuoteError extends Error {
  constructor(
    readonly reason: string,
    readonly offset: number,
  ) {
    super(reason);
  }
}

export interface Quoted {
  /** The decoded text. */
  readonly value: string;
  /** Index just past the closing quote. */
  readonly end: number;
}

const SIMPLE_ESCAPES: Readonly<Record<string, number>> = {
  a: 0x07,
  b: 0x08,
  f: 0x0c,
  n: 0x0a,
  r: 0x0d,
  t: 0x09,
  v: 0x0b,
  '\\': 0x5c,
};

const NUMERIC_ESCAPES: Readonly<
  Record<string, { readonly base: 8 | 16; readonly digits: number }>
> = {
  x: { base: 16, digits: 2 },
  u: { base: 16, digits: 4 },
  U: { base: 16, digits: 8 },
};

const utf8 = new TextEncoder();
const utf8Decoder = new TextDecoder();

/**
 * Reads the quoted string that opens at `input[start]` and ends at the next
 * unescaped copy of the same quote character, on the same line.
 *
 * Escapes are Go's: `\a \b \f \n \r \t \v \\`, the quote character itself,
 * `\ooo` (three octal digits, a byte), `\xhh` (a byte), `\uhhhh` and
 * `\Uhhhhhhhh` (code points). Byte escapes are assembled as UTF-8, so
 * `"\xe2\x82\xac"` is `€`; invalid UTF-8 decodes to U+FFFD.
 */
export function readQuoted(input: string, start: number): Quoted {
  const quote = input[start];
  if (quote === undefined) {
    throw new RangeError(`no quote at ${start}`);
  }
  const bytes: number[] = [];
  let escaped = false;
  let i = start + 1;
  for (;;) {
    const ch = input[i];
    if (ch === undefined || ch === '\n') {
      throw new QuoteError('unterminated quoted string', 0);
    }
    if (ch === '\0') {
      throw new QuoteError('unexpected null character', i - start);
    }
    if (ch === quote) {
      break;
    }
    if (ch !== '\\') {
      const cp = input.codePointAt(i) ?? 0;
      const width = cp > 0xffff ? 2 : 1;
      if (escaped) {
        pushUtf8(bytes, cp);
      }
      i += width;
      continue;
    }
    if (!escaped) {
      escaped = true;
      pushUtf8String(bytes, input.slice(start + 1, i));
    }
    i = readEscape(input, i, start, quote, bytes);
  }
  const value = escaped ? utf8Decoder.decode(Uint8Array.from(bytes)) : input.slice(start + 1, i);
  return { value, end: i + 1 };
}

/** Decodes the escape at `input[at] === '\\'` into `bytes`; returns the index after it. */
function readEscape(
  input: string,
  at: number,
  start: number,
  quote: string,
  bytes: number[],
): number {
  const letter = input[at + 1];
  if (letter === undefined || letter === '\n') {
    throw new QuoteError('unterminated quoted string', 0);
  }
  if (letter === quote) {
    bytes.push(quote.charCodeAt(0));
    return at + 2;
  }
  const simple = SIMPLE_ESCAPES[letter];
  if (simple !== undefined) {
    bytes.push(simple);
    return at + 2;
  }
  const octal = letter >= '0' && letter <= '7';
  const numeric = octal ? { base: 8 as const, digits: 3 } : NUMERIC_ESCAPES[letter];
  if (numeric === undefined) {
    throw new QuoteError(`invalid escape sequence "\\${letter}"`, at - start);
  }
  const first = octal ? at + 1 : at + 2;
  const text = input.slice(first, first + numeric.digits);
  const pattern = numeric.base === 8 ? /^[0-7]+$/ : /^[0-9A-Fa-f]+$/;
  if (text.length < numeric.digits || !pattern.test(text)) {
    throw new QuoteError(
      `invalid numeric escape sequence "${input.slice(at, first + numeric.digits)}"`,
      at - start,
    );
  }
  const value = Number.parseInt(text, numeric.base);
  if (octal || letter === 'x') {
    if (value > 0xff) {
      throw new QuoteError(`octal escape "\\${text}" is out of range`, at - start);
    }
    bytes.push(value);
  } else {
    if (value > 0x10ffff) {
      throw new QuoteError(
        `escape "${input.slice(at, first + numeric.digits)}" is not a valid code point`,
        at - start,
      );
    }
    pushUtf8(bytes, value);
  }
  return first + numeric.digits;
}

function pushUtf8(bytes: number[], cp: number): void {
  if (cp < 0x80) {
    bytes.push(cp);
  } else {
    pushUtf8String(bytes, String.fromCodePoint(cp));
  }
}

function pushUtf8String(bytes: number[], text: string): void {
  for (const byte of utf8.encode(text)) {
    bytes.push(byte);
  }
}
