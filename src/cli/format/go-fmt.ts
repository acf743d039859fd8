/**
 * Go's fmt as Go templates print values: `{{.X}}` prints like fmt.Print,
 * `printf` like fmt.Sprintf (verbs %s %d %v %q %f %g %x %t %%, flags `-`
 * `+` `0` and width/precision). Numbers that are integers print as Go ints
 * (the fields docker's templates see are int64s); others as float64s.
 */

/** fmt.Print of one value: strings as is, arrays `[a b]`, objects `map[k:v]` (keys sorted). */
export function goPrint(v: unknown): string {
  if (v === undefined) return '';
  if (v === null) return '<nil>';
  if (typeof v === 'string') return v;
  if (typeof v === 'number') return goNumber(v);
  if (typeof v === 'bigint' || typeof v === 'boolean') return String(v);
  if (v instanceof Date) return v.toISOString();
  if (Array.isArray(v)) return `[${v.map(goPrint).join(' ')}]`;
  if (v instanceof Map) {
    const keys = [...v.keys()].map(String).sort();
    return `map[${keys.map((k) => `${k}:${goPrint(v.get(k))}`).join(' ')}]`;
  }
  if (typeof v === 'object') {
    const o = v as Record<string, unknown>;
    const keys = Object.keys(o).sort();
    return `map[${keys.map((k) => `${k}:${goPrint(o[k])}`).join(' ')}]`;
  }
  return String(v);
}

function goNumber(n: number): string {
  if (Number.isInteger(n) && Math.abs(n) < 2 ** 63) return BigInt(n).toString();
  return formatG(n, -1);
}

/**
 * strconv.FormatFloat(n, 'g', prec): exponent form when exp < -4 or exp >=
 * prec (6 for the shortest representation, prec = -1), trailing zeros dropped.
 */
export function formatG(n: number, prec: number): string {
  if (Number.isNaN(n)) return 'NaN';
  if (!Number.isFinite(n)) return n > 0 ? '+Inf' : '-Inf';
  if (n === 0) return Object.is(n, -0) ? '-0' : '0';
  if (prec === 0) prec = 1;
  const e = prec < 0 ? n.toExponential() : n.toExponential(prec - 1);
  const [mant = '', expStr = '0'] = e.split('e');
  const exp = Number(expStr);
  const eprec = prec < 0 ? 6 : prec;
  const digits = mant.replace(/[-.]/g, '');
  if (exp < -4 || exp >= eprec) {
    const m = stripZeros(mant);
    const sign = exp < 0 ? '-' : '+';
    return `${m}e${sign}${String(Math.abs(exp)).padStart(2, '0')}`;
  }
  const decimals = Math.max(0, (prec < 0 ? digits.length : prec) - 1 - exp);
  return stripZeros(n.toFixed(decimals));
}

function stripZeros(s: string): string {
  return s.includes('.') ? s.replace(/0+$/, '').replace(/\.$/, '') : s;
}

/** strconv.Quote: double-quoted with Go's escapes; printable non-ASCII kept. */
export function goQuote(s: string): string {
  let out = '"';
  for (const ch of s) {
    const c = ch.codePointAt(0) ?? 0;
    if (ch === '"' || ch === '\\') out += `\\${ch}`;
    else if (ch === '\n') out += '\\n';
    else if (ch === '\t') out += '\\t';
    else if (ch === '\r') out += '\\r';
    else if (ch === '\x07') out += '\\a';
    else if (ch === '\b') out += '\\b';
    else if (ch === '\f') out += '\\f';
    else if (ch === '\v') out += '\\v';
    else if (c < 0x20 || c === 0x7f) out += `\\x${c.toString(16).padStart(2, '0')}`;
    else out += ch;
  }
  return `${out}"`;
}

function goTypeName(v: unknown): string {
  if (v === null || v === undefined) return '<nil>';
  if (typeof v === 'number') return Number.isInteger(v) ? 'int' : 'float64';
  if (typeof v === 'boolean') return 'bool';
  if (Array.isArray(v)) return '[]interface {}';
  if (typeof v === 'object') return 'map[string]interface {}';
  return typeof v;
}

interface Spec {
  minus: boolean;
  plus: boolean;
  zero: boolean;
  space: boolean;
  width?: number;
  precision?: number;
}

function pad(s: string, spec: Spec, numeric: boolean): string {
  if (spec.width === undefined || s.length >= spec.width) return s;
  if (spec.minus) return s.padEnd(spec.width);
  if (spec.zero && numeric) {
    const sign = /^[-+]/.test(s) ? s.slice(0, 1) : '';
    return sign + s.slice(sign.length).padStart(spec.width - sign.length, '0');
  }
  return s.padStart(spec.width);
}

function signed(s: string, n: number, spec: Spec): string {
  if (n >= 0 && spec.plus) return `+${s}`;
  if (n >= 0 && spec.space) return ` ${s}`;
  return s;
}

function bad(verb: string, v: unknown): string {
  return `%!${verb}(${goTypeName(v)}=${goPrint(v)})`;
}

function formatOne(verb: string, spec: Spec, v: unknown): string {
  switch (verb) {
    case 'v':
      return pad(
        typeof v === 'number' ? signed(goPrint(v), v, spec) : goPrint(v),
        spec,
        typeof v === 'number',
      );
    case 's': {
      if (typeof v === 'number' || typeof v === 'boolean') return bad(verb, v);
      let s = goPrint(v);
      if (spec.precision !== undefined) s = [...s].slice(0, spec.precision).join('');
      return pad(s, spec, false);
    }
    case 'q':
      if (typeof v === 'string') return pad(goQuote(v), spec, false);
      if (typeof v === 'number' && Number.isInteger(v))
        return pad(`'${String.fromCodePoint(v)}'`, spec, false);
      if (Array.isArray(v))
        return pad(
          `[${v.map((x) => formatOne('q', { ...spec, width: undefined }, x)).join(' ')}]`,
          spec,
          false,
        );
      return bad(verb, v);
    case 'd':
      if (typeof v === 'number' && Number.isInteger(v))
        return pad(signed(goNumber(v), v, spec), spec, true);
      if (Array.isArray(v)) return `[${v.map((x) => formatOne('d', spec, x)).join(' ')}]`;
      return bad(verb, v);
    case 'x':
    case 'X': {
      let s: string;
      if (typeof v === 'number' && Number.isInteger(v)) s = v.toString(16);
      else if (typeof v === 'string') s = Buffer.from(v).toString('hex');
      else return bad(verb, v);
      return pad(verb === 'X' ? s.toUpperCase() : s, spec, true);
    }
    case 'f':
    case 'F':
    case 'e':
    case 'g':
      if (typeof v !== 'number') return bad(verb, v);
      if (verb === 'g') return pad(signed(formatG(v, spec.precision ?? -1), v, spec), spec, true);
      if (verb === 'e') {
        const e = v.toExponential(spec.precision ?? 6).replace(/e([+-])(\d)$/, 'e$10$2');
        return pad(signed(e, v, spec), spec, true);
      }
      return pad(signed(v.toFixed(spec.precision ?? 6), v, spec), spec, true);
    case 't':
      if (typeof v !== 'boolean') return bad(verb, v);
      return pad(String(v), spec, false);
    default:
      return `%!${verb}(${goTypeName(v)}=${goPrint(v)})`;
  }
}

/** fmt.Sprintf with Go's markers for missing (`%!s(MISSING)`) and extra (`%!(EXTRA int=1)`) arguments. */
export function goSprintf(format: string, args: unknown[]): string {
  let out = '';
  let argi = 0;
  const re = /%([-+# 0]*)(\d+)?(?:\.(\d*))?(.?)/gy;
  let i = 0;
  while (i < format.length) {
    const pct = format.indexOf('%', i);
    if (pct < 0) {
      out += format.slice(i);
      break;
    }
    out += format.slice(i, pct);
    re.lastIndex = pct;
    const m = re.exec(format);
    if (!m) break;
    const [whole, flags = '', width, precision, verb = ''] = m;
    i = pct + whole.length;
    if (verb === '%') {
      out += '%';
      continue;
    }
    if (verb === '') {
      out += '%!(NOVERB)';
      continue;
    }
    const spec: Spec = {
      minus: flags.includes('-'),
      plus: flags.includes('+'),
      zero: flags.includes('0'),
      space: flags.includes(' '),
      width: width === undefined ? undefined : Number(width),
      precision: precision === undefined ? undefined : Number(precision || '0'),
    };
    if (argi >= args.length) {
      out += `%!${verb}(MISSING)`;
      continue;
    }
    out += formatOne(verb, spec, args[argi++]);
  }
  if (argi < args.length) {
    out += `%!(EXTRA ${args
      .slice(argi)
      .map((a) => `${goTypeName(a)}=${goPrint(a)}`)
      .join(', ')})`;
  }
  return out;
}

/**
 * JSON as docker's json encoder writes it: Maps (Go maps) as objects with
 * sorted keys, plain objects (Go structs) in their own key order, undefined
 * as null. `indent` as JSON.stringify's.
 */
export function goJson(v: unknown, indent?: number): string {
  const replacer = (_: string, x: unknown) =>
    x instanceof Map
      ? Object.fromEntries([...x.entries()].sort(([a], [b]) => (String(a) < String(b) ? -1 : 1)))
      : x;
  return JSON.stringify(v === undefined ? null : v, replacer, indent) ?? 'null';
}
