/**
 * A Go text/template subset with docker's template functions, for
 * `--format`: `{{.Field}}`, `{{.A.B}}`, `{{json .}}`, `{{index .Labels "k"}}`,
 * `{{join .List ", "}}`, `{{upper}}`/`{{lower}}`/`{{title}}`, `{{printf}}`,
 * `{{if}}`/`{{else}}`/`{{end}}`, `{{range}}` and `{{with}}` (rebinding `.`),
 * pipes, `(pipeline).Field`, and Go's comparison and logic functions (eq ne
 * lt le gt ge and or not len print println). The source's `\t` and `\n` (backslash,
 * letter) become a tab and a newline, as docker's formatter replaces them.
 *
 * Data are plain objects (docker's structs) and Maps (Go maps). A field a
 * plain object does not have is an error naming it
 * (`template: unknown field "Nmes"`); a key a Map lacks prints `<no value>`
 * as Go does for maps. A field holding a function is called with the
 * command's arguments (docker's methods such as `{{.Label "k"}}`).
 *
 * Every error is invalidArgument with a message starting `template: `.
 */
import { goJson, goPrint, goSprintf } from './go-fmt.js';
import {
  type Command,
  type Node,
  type Operand,
  type Pipeline,
  parseTemplate,
  templateError,
} from './template-parse.js';

export { templateError };

/** A compiled template: call it with a row; `header(map)` renders docker's table header for it. */
export interface Template {
  (data: unknown): string;
  /**
   * The template executed as docker's header pass: `.Field` becomes
   * `headers[Field]` (or the field's name in upper case), docker's
   * json/split/join/title/lower/upper/truncate return their argument unchanged.
   */
  header(headers?: Readonly<Record<string, string>>): string;
}

interface Scope {
  dot: unknown;
  root: unknown;
  /** Set in the header pass. */
  headers?: Readonly<Record<string, string>>;
}

const MISSING = Symbol('no value');

type Func = (scope: Scope, args: unknown[]) => unknown;

function arity(name: string, args: unknown[], min: number, max = min): void {
  if (args.length < min || args.length > max) {
    const want = min === max ? `${min}` : `${min} to ${max}`;
    throw templateError(`wrong number of args for ${name}: want ${want} got ${args.length}`);
  }
}

function str(name: string, v: unknown): string {
  if (typeof v !== 'string') throw templateError(`${name}: expected a string, got ${describe(v)}`);
  return v;
}

function int(name: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isInteger(v))
    throw templateError(`${name}: expected an integer, got ${describe(v)}`);
  return v;
}

function describe(v: unknown): string {
  if (v === null || v === undefined) return 'nil';
  if (Array.isArray(v)) return 'a list';
  if (v instanceof Map) return 'a map';
  return typeof v === 'object' ? 'an object' : `${typeof v} ${goPrint(v)}`;
}

/** Go's truth: false, 0, nil and empty strings, lists and maps are false. */
export function truthy(v: unknown): boolean {
  if (v === undefined || v === null || v === MISSING) return false;
  if (typeof v === 'boolean') return v;
  if (typeof v === 'number') return v !== 0;
  if (typeof v === 'string') return v.length > 0;
  if (Array.isArray(v)) return v.length > 0;
  if (v instanceof Map) return v.size > 0;
  if (typeof v === 'object') return Object.keys(v).length > 0;
  return true;
}

function jsonOf(v: unknown): string {
  return goJson(v === MISSING ? null : v);
}

function title(s: string): string {
  // strings.Title: the first letter of each word in upper case, the rest kept.
  return s.replace(
    /(^|[^\p{L}\p{N}_])(\p{L})/gu,
    (_, sep: string, ch: string) => sep + ch.toUpperCase(),
  );
}

function compare(name: string, a: unknown, b: unknown): number {
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  if (typeof a === 'string' && typeof b === 'string') return a < b ? -1 : a > b ? 1 : 0;
  throw templateError(
    `${name}: incompatible types for comparison: ${describe(a)} and ${describe(b)}`,
  );
}

function indexOne(container: unknown, key: unknown): unknown {
  if (Array.isArray(container) || typeof container === 'string') {
    const i = int('index', key);
    if (i < 0 || i >= container.length) throw templateError(`index out of range: ${i}`);
    return container[i];
  }
  if (container instanceof Map) return container.has(key) ? container.get(key) : '';
  if (container !== null && typeof container === 'object') {
    const o = container as Record<string, unknown>;
    return Object.hasOwn(o, String(key)) ? o[String(key)] : '';
  }
  if (container === null || container === undefined) return '';
  throw templateError(`can't index item of type ${describe(container)}`);
}

/** Docker's header label for `.Label "com.example.name"`: the last dotted part, `-` and `_` as spaces. */
function labelHeader(name: string): string {
  const parts = name.split('.');
  return (parts[parts.length - 1] ?? '').replace(/[-_]/g, ' ');
}

const FUNCS: Record<string, Func> = {
  json: (_, a) => {
    arity('json', a, 1);
    return jsonOf(a[0]);
  },
  split: (_, a) => {
    arity('split', a, 2);
    return str('split', a[0]).split(str('split', a[1]));
  },
  join: (_, a) => {
    arity('join', a, 2);
    const [list, sep] = a;
    const s = str('join', sep);
    if (list === null || list === undefined) return '';
    if (Array.isArray(list)) return list.map(goPrint).join(s);
    if (list instanceof Map) return [...list.values()].map(goPrint).sort().join(s);
    if (typeof list === 'object') return Object.values(list).map(goPrint).sort().join(s);
    throw templateError(`join: expected a list, got ${describe(list)}`);
  },
  title: (_, a) => {
    arity('title', a, 1);
    return title(str('title', a[0]));
  },
  lower: (_, a) => {
    arity('lower', a, 1);
    return str('lower', a[0]).toLowerCase();
  },
  upper: (_, a) => {
    arity('upper', a, 1);
    return str('upper', a[0]).toUpperCase();
  },
  pad: (_, a) => {
    arity('pad', a, 3);
    const s = str('pad', a[0]);
    return s === '' ? s : ' '.repeat(int('pad', a[1])) + s + ' '.repeat(int('pad', a[2]));
  },
  truncate: (_, a) => {
    arity('truncate', a, 2);
    const s = str('truncate', a[0]);
    const n = int('truncate', a[1]);
    return s.length < n ? s : s.slice(0, Math.max(0, n));
  },
  index: (scope, a) => {
    if (a.length < 1) throw templateError('wrong number of args for index: want at least 1 got 0');
    if (scope.headers) return a.length > 1 ? goPrint(a[a.length - 1]) : a[0];
    let v = a[0];
    for (const k of a.slice(1)) v = indexOne(v, k);
    return v;
  },
  len: (_, a) => {
    arity('len', a, 1);
    const v = a[0];
    if (typeof v === 'string') return Buffer.byteLength(v);
    if (Array.isArray(v)) return v.length;
    if (v instanceof Map) return v.size;
    if (v !== null && typeof v === 'object') return Object.keys(v).length;
    throw templateError(`len of ${describe(v)}`);
  },
  printf: (_, a) => {
    if (a.length < 1) throw templateError('wrong number of args for printf: want at least 1 got 0');
    return goSprintf(str('printf', a[0]), a.slice(1));
  },
  print: (_, a) => {
    // fmt.Sprint: a space between operands when neither is a string.
    let out = '';
    a.forEach((v, i) => {
      if (i > 0 && typeof v !== 'string' && typeof a[i - 1] !== 'string') out += ' ';
      out += goPrint(v);
    });
    return out;
  },
  println: (_, a) => `${a.map(goPrint).join(' ')}\n`,
  not: (_, a) => {
    arity('not', a, 1);
    return !truthy(a[0]);
  },
  and: (_, a) => {
    if (a.length < 1) throw templateError('wrong number of args for and: want at least 1 got 0');
    for (const v of a) if (!truthy(v)) return v;
    return a[a.length - 1];
  },
  or: (_, a) => {
    if (a.length < 1) throw templateError('wrong number of args for or: want at least 1 got 0');
    for (const v of a) if (truthy(v)) return v;
    return a[a.length - 1];
  },
  eq: (_, a) => {
    if (a.length < 2)
      throw templateError(`wrong number of args for eq: want at least 2 got ${a.length}`);
    return a.slice(1).some((b) => a[0] === b);
  },
  ne: (_, a) => {
    arity('ne', a, 2);
    return a[0] !== a[1];
  },
  lt: (_, a) => {
    arity('lt', a, 2);
    return compare('lt', a[0], a[1]) < 0;
  },
  le: (_, a) => {
    arity('le', a, 2);
    return compare('le', a[0], a[1]) <= 0;
  },
  gt: (_, a) => {
    arity('gt', a, 2);
    return compare('gt', a[0], a[1]) > 0;
  },
  ge: (_, a) => {
    arity('ge', a, 2);
    return compare('ge', a[0], a[1]) >= 0;
  },
};

/** docker's HeaderFunctions: in the header pass these return their first argument unchanged. */
const HEADER_IDENTITY = new Set(['json', 'split', 'join', 'title', 'lower', 'upper', 'truncate']);

function field(scope: Scope, base: unknown, path: string[], args: unknown[]): unknown {
  if (scope.headers) {
    if (path.length === 0) return base;
    if (args.length > 0 && typeof args[0] === 'string') return labelHeader(args[0]);
    const h = scope.headers[path.join('.')] ?? scope.headers[path[0] ?? ''];
    return h ?? (path[path.length - 1] ?? '').toUpperCase();
  }
  let v = base;
  for (const [i, name] of path.entries()) {
    const last = i === path.length - 1;
    if (v instanceof Map) {
      v = v.has(name) ? v.get(name) : MISSING;
    } else if (v !== null && typeof v === 'object' && !Array.isArray(v)) {
      const o = v as Record<string, unknown>;
      if (!(name in o)) throw templateError(`unknown field "${name}"`);
      const f = o[name];
      v =
        typeof f === 'function'
          ? (f as (...a: unknown[]) => unknown).apply(o, last ? args : [])
          : f;
      if (typeof f === 'function' && last) return v;
    } else if (v === null || v === undefined) {
      throw templateError(`nil pointer evaluating field "${name}"`);
    } else {
      throw templateError(`can't evaluate field "${name}" in ${describe(v)}`);
    }
  }
  if (args.length > 0)
    throw templateError(`field "${path[path.length - 1]}" is not a method and takes no arguments`);
  return v;
}

function operand(scope: Scope, op: Operand, args: unknown[] = []): unknown {
  switch (op.kind) {
    case 'field':
      if (op.path.length === 0 && args.length > 0)
        throw templateError("can't give argument to non-function .");
      return field(scope, op.base === 'dot' ? scope.dot : scope.root, op.path, args);
    case 'literal':
      if (args.length > 0)
        throw templateError(`can't give argument to non-function ${goPrint(op.value)}`);
      return op.value;
    case 'pipe':
      if (args.length > 0) throw templateError("can't give argument to non-function (pipeline)");
      return op.path.length > 0
        ? field(scope, pipeline(scope, op.pipe), op.path, [])
        : pipeline(scope, op.pipe);
    case 'func': {
      if (scope.headers && HEADER_IDENTITY.has(op.name)) return args[0];
      const f = FUNCS[op.name];
      if (!f) throw templateError(`unknown function "${op.name}"`);
      return f(scope, args);
    }
  }
}

function command(scope: Scope, cmd: Command, piped: unknown[]): unknown {
  const [head, ...rest] = cmd;
  if (!head) throw templateError('empty command');
  const takesArgs = head.kind === 'func' || (head.kind === 'field' && head.path.length > 0);
  if (!takesArgs && (rest.length > 0 || piped.length > 0)) {
    throw templateError(
      `can't give argument to non-function ${head.kind === 'literal' ? goPrint(head.value) : '.'}`,
    );
  }
  const args = [...rest.map((op) => operand(scope, op)), ...piped];
  return operand(scope, head, args);
}

function pipeline(scope: Scope, pipe: Pipeline): unknown {
  let value: unknown;
  pipe.forEach((cmd, i) => {
    value = command(scope, cmd, i === 0 ? [] : [value]);
  });
  return value;
}

function print(v: unknown): string {
  return v === MISSING ? '<no value>' : goPrint(v);
}

function rangeItems(v: unknown, headers: boolean): unknown[] {
  if (headers) return [v];
  if (v === undefined || v === null || v === MISSING) return [];
  if (Array.isArray(v)) return v;
  if (v instanceof Map) return [...v.keys()].sort().map((k) => v.get(k));
  if (typeof v === 'object') {
    const o = v as Record<string, unknown>;
    return Object.keys(o)
      .sort()
      .map((k) => o[k]);
  }
  if (typeof v === 'number' && Number.isInteger(v) && v >= 0)
    return Array.from({ length: v }, (_, i) => i);
  throw templateError(`range can't iterate over ${goPrint(v)}`);
}

function exec(scope: Scope, nodes: Node[]): string {
  let out = '';
  for (const n of nodes) {
    switch (n.kind) {
      case 'text':
        out += n.text;
        break;
      case 'action':
        out += print(pipeline(scope, n.pipe));
        break;
      case 'if': {
        const ok = truthy(pipeline(scope, n.pipe));
        out += exec(scope, ok ? n.body : n.else);
        break;
      }
      case 'with': {
        const v = pipeline(scope, n.pipe);
        out += truthy(v) ? exec({ ...scope, dot: v }, n.body) : exec(scope, n.else);
        break;
      }
      case 'range': {
        const items = rangeItems(pipeline(scope, n.pipe), scope.headers !== undefined);
        if (items.length === 0) out += exec(scope, n.else);
        for (const item of items) out += exec({ ...scope, dot: item }, n.body);
        break;
      }
    }
  }
  return out;
}

/** Docker's pre-processing: the two-character sequences `\t` and `\n` become a tab and a newline. */
export function expandEscapes(src: string): string {
  return src.replace(/\\[tn]/g, (m) => (m === '\\t' ? '\t' : '\n'));
}

/** Compiles a template; syntax errors and unknown functions throw here, unknown fields when executed. */
export function compileTemplate(src: string): Template {
  const nodes = parseTemplate(expandEscapes(src), (name) => Object.hasOwn(FUNCS, name));
  const run = (data: unknown): string => exec({ dot: data, root: data }, nodes);
  return Object.assign(run, {
    header: (headers: Readonly<Record<string, string>> = {}) =>
      exec({ dot: headers, root: headers, headers }, nodes),
  });
}
