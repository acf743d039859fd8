/**
 * The parser of berth's Go-template subset: text, `{{pipeline}}` actions,
 * `if`/`else if`/`else`/`end`, `range`, `with`, pipes, parenthesized
 * pipelines, string/number/bool/nil literals, `.`, `.A.B`, `$` and `$.A`,
 * comments and the `{{-`/`-}}` trim markers. Variables (`$x :=`), `define`
 * and `template` are not supported and are refused with an error naming them.
 */
import { invalidArgument } from '../../core/errdefs/index.js';

export type Operand =
  | { kind: 'field'; base: 'dot' | 'root'; path: string[] }
  | { kind: 'func'; name: string }
  | { kind: 'literal'; value: unknown }
  | { kind: 'pipe'; pipe: Pipeline; path: string[] };

export type Command = Operand[];
export type Pipeline = Command[];

export type Node =
  | { kind: 'text'; text: string }
  | { kind: 'action'; pipe: Pipeline }
  | { kind: 'if' | 'with' | 'range'; pipe: Pipeline; body: Node[]; else: Node[] };

type Token =
  | { t: 'field'; base: 'dot' | 'root'; path: string[] }
  | { t: 'ident'; name: string }
  | { t: 'literal'; value: unknown }
  | { t: 'chain'; path: string[] }
  | { t: '|' | '(' | ')' };

export function templateError(msg: string): Error {
  return invalidArgument(`template: ${msg}`);
}

const KEYWORDS = new Set([
  'if',
  'else',
  'end',
  'range',
  'with',
  'define',
  'template',
  'block',
  'break',
  'continue',
]);

/** The functions a template may call; checked at compile time as Go does at parse time. */
export type FuncCheck = (name: string) => boolean;

interface Action {
  tokens: Token[];
}

/** Splits the source into text and actions, applying the trim markers. */
function scan(src: string): (string | Action)[] {
  const items: (string | Action)[] = [];
  let i = 0;
  let trimNext = false;
  while (i < src.length) {
    const open = src.indexOf('{{', i);
    let text = open < 0 ? src.slice(i) : src.slice(i, open);
    if (trimNext) text = text.replace(/^[ \t\r\n]+/, '');
    trimNext = false;
    if (open < 0) {
      if (text) items.push(text);
      break;
    }
    let p = open + 2;
    if (/^-[ \t\r\n]/.test(src.slice(p, p + 2))) {
      text = text.replace(/[ \t\r\n]+$/, '');
      p += 1;
    }
    if (text) items.push(text);
    const comment = /^[ \t\r\n]*\/\*/.exec(src.slice(p));
    if (comment) {
      const close = src.indexOf('*/', p + comment[0].length);
      if (close < 0) throw templateError('unclosed comment');
      const rest = src.slice(close + 2);
      const end = /^([ \t\r\n]+-)?}}/.exec(rest);
      if (!end) throw templateError('comment ends before closing delimiter');
      trimNext = Boolean(end[1]);
      i = close + 2 + end[0].length;
      continue;
    }
    const { tokens, end, trim } = lexAction(src, p);
    items.push({ tokens });
    trimNext = trim;
    i = end;
  }
  return items;
}

const IDENT = /[A-Za-z_][A-Za-z0-9_]*/y;

function lexAction(src: string, start: number): { tokens: Token[]; end: number; trim: boolean } {
  const tokens: Token[] = [];
  let p = start;
  const fieldChain = (): string[] => {
    const path: string[] = [];
    while (src[p] === '.') {
      IDENT.lastIndex = p + 1;
      const m = IDENT.exec(src);
      if (!m) break;
      path.push(m[0]);
      p = IDENT.lastIndex;
    }
    return path;
  };
  for (;;) {
    if (p >= src.length) throw templateError('unclosed action');
    const c = src[p] ?? '';
    if (/[ \t\r\n]/.test(c)) {
      if (src.startsWith('-}}', p + 1)) return { tokens, end: p + 4, trim: true };
      p++;
      continue;
    }
    if (src.startsWith('}}', p)) return { tokens, end: p + 2, trim: false };
    if (c === '|' || c === '(') {
      tokens.push({ t: c });
      p++;
    } else if (c === ')') {
      tokens.push({ t: c });
      p++;
      // `(pipeline).Field`: fields of the pipeline's value.
      const path = fieldChain();
      if (path.length > 0) tokens.push({ t: 'chain', path });
    } else if (c === '"') {
      let q = p + 1;
      let raw = '';
      while (q < src.length && src[q] !== '"') {
        if (src[q] === '\n') throw templateError('unterminated quoted string');
        if (src[q] === '\\') {
          raw += src.slice(q, q + 2);
          q += 2;
        } else raw += src[q++];
      }
      if (q >= src.length) throw templateError('unterminated quoted string');
      tokens.push({ t: 'literal', value: unquote(raw) });
      p = q + 1;
    } else if (c === '`') {
      const close = src.indexOf('`', p + 1);
      if (close < 0) throw templateError('unterminated raw quoted string');
      tokens.push({ t: 'literal', value: src.slice(p + 1, close) });
      p = close + 1;
    } else if (c === '.') {
      const path = fieldChain();
      if (path.length === 0) {
        if (/[A-Za-z0-9_]/.test(src[p + 1] ?? ''))
          throw templateError(`bad field name at "${src.slice(p, p + 10)}"`);
        p++;
      }
      tokens.push({ t: 'field', base: 'dot', path });
    } else if (c === '$') {
      p++;
      IDENT.lastIndex = p;
      const v = IDENT.exec(src);
      if (v) throw templateError(`variables are not supported: "$${v[0]}"`);
      tokens.push({ t: 'field', base: 'root', path: fieldChain() });
    } else if (/[0-9]/.test(c) || (/[-+]/.test(c) && /[0-9]/.test(src[p + 1] ?? ''))) {
      const m = /[-+]?(0x[0-9a-fA-F]+|[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?)/y;
      m.lastIndex = p;
      const num = m.exec(src);
      if (!num) throw templateError(`bad number at "${src.slice(p, p + 10)}"`);
      tokens.push({ t: 'literal', value: Number(num[0]) });
      p = m.lastIndex;
    } else if (c === ':' || c === '=') {
      throw templateError('variable declarations are not supported');
    } else {
      IDENT.lastIndex = p;
      const m = IDENT.exec(src);
      if (!m) throw templateError(`unexpected "${c}" in command`);
      p = IDENT.lastIndex;
      const name = m[0];
      if (name === 'true' || name === 'false')
        tokens.push({ t: 'literal', value: name === 'true' });
      else if (name === 'nil') tokens.push({ t: 'literal', value: null });
      else tokens.push({ t: 'ident', name });
    }
  }
}

function unquote(raw: string): string {
  return raw.replace(/\\(x[0-9a-fA-F]{2}|u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8}|.)/g, (_, e: string) => {
    switch (e[0]) {
      case 'n':
        return '\n';
      case 't':
        return '\t';
      case 'r':
        return '\r';
      case 'a':
        return '\x07';
      case 'b':
        return '\b';
      case 'f':
        return '\f';
      case 'v':
        return '\v';
      case 'x':
      case 'u':
      case 'U':
        return String.fromCodePoint(Number.parseInt(e.slice(1), 16));
      case '\\':
      case '"':
      case "'":
        return e;
      default:
        throw templateError(`unknown escape sequence "\\${e}"`);
    }
  });
}

/** Parses a pipeline from tokens[start..end). */
function parsePipeline(tokens: Token[], funcs: FuncCheck): Pipeline {
  let pos = 0;
  const pipeline = (closing: boolean): Pipeline => {
    const cmds: Pipeline = [];
    let cmd: Command = [];
    for (;;) {
      const tok = tokens[pos];
      if (!tok || tok.t === ')') {
        if (!tok && closing) throw templateError('unclosed left paren');
        if (tok && !closing) throw templateError('unexpected right paren');
        break;
      }
      pos++;
      if (tok.t === '|') {
        if (cmd.length === 0) throw templateError('missing command before "|"');
        cmds.push(cmd);
        cmd = [];
      } else if (tok.t === '(') {
        const inner = pipeline(true);
        pos++; // ')'
        if (inner.length === 0) throw templateError('missing value in parentheses');
        const next = tokens[pos];
        const path = next?.t === 'chain' ? next.path : [];
        if (path.length > 0) pos++;
        cmd.push({ kind: 'pipe', pipe: inner, path });
      } else if (tok.t === 'ident') {
        if (KEYWORDS.has(tok.name)) throw templateError(`unexpected "${tok.name}" in command`);
        if (!funcs(tok.name)) throw templateError(`unknown function "${tok.name}"`);
        if (cmd.length > 0)
          throw templateError(`function "${tok.name}" must come first in a command`);
        cmd.push({ kind: 'func', name: tok.name });
      } else if (tok.t === 'field') {
        cmd.push({ kind: 'field', base: tok.base, path: tok.path });
      } else if (tok.t === 'chain') {
        throw templateError(`unexpected field .${tok.path.join('.')}`);
      } else if (tok.t === 'literal') {
        cmd.push({ kind: 'literal', value: tok.value });
      }
    }
    if (cmd.length > 0) cmds.push(cmd);
    else if (cmds.length > 0) throw templateError('missing command after "|"');
    return cmds;
  };
  const p = pipeline(false);
  if (pos < tokens.length) throw templateError('unexpected right paren');
  return p;
}

type Frame = {
  node: Extract<Node, { kind: 'if' | 'with' | 'range' }>;
  inElse: boolean;
  elseIf: boolean;
};

/** Parses a template source into nodes; throws invalidArgument naming the problem. */
export function parseTemplate(src: string, funcs: FuncCheck): Node[] {
  const root: Node[] = [];
  const stack: Frame[] = [];
  const current = (): Node[] => {
    const top = stack[stack.length - 1];
    if (!top) return root;
    return top.inElse ? top.node.else : top.node.body;
  };
  for (const item of scan(src)) {
    if (typeof item === 'string') {
      current().push({ kind: 'text', text: item });
      continue;
    }
    const [first, ...rest] = item.tokens;
    if (!first) throw templateError('missing value for command');
    const kw = first.t === 'ident' && KEYWORDS.has(first.name) ? first.name : undefined;
    if (kw === undefined) {
      current().push({ kind: 'action', pipe: parsePipeline(item.tokens, funcs) });
      continue;
    }
    switch (kw) {
      case 'if':
      case 'with':
      case 'range': {
        const pipe = parsePipeline(rest, funcs);
        if (pipe.length === 0) throw templateError(`missing value for ${kw}`);
        const node: Frame['node'] = { kind: kw, pipe, body: [], else: [] };
        current().push(node);
        stack.push({ node, inElse: false, elseIf: false });
        break;
      }
      case 'else': {
        const top = stack[stack.length - 1];
        if (!top || top.inElse) throw templateError('unexpected {{else}}');
        top.inElse = true;
        const [next, ...cond] = rest;
        if (next) {
          if (next.t !== 'ident' || (next.name !== 'if' && next.name !== 'with')) {
            throw templateError('unexpected tokens after {{else}}');
          }
          const pipe = parsePipeline(cond, funcs);
          if (pipe.length === 0) throw templateError(`missing value for ${next.name}`);
          const node: Frame['node'] = { kind: next.name, pipe, body: [], else: [] };
          top.node.else.push(node);
          // An {{else if}} chain shares the one {{end}} of its {{if}}.
          stack.push({ node, inElse: false, elseIf: true });
        }
        break;
      }
      case 'end': {
        if (rest.length > 0) throw templateError('unexpected tokens after {{end}}');
        let top = stack.pop();
        if (!top) throw templateError('unexpected {{end}}');
        while (top?.elseIf) top = stack.pop();
        break;
      }
      default:
        throw templateError(`{{${kw}}} is not supported`);
    }
  }
  if (stack.length > 0)
    throw templateError(
      `unexpected EOF: {{${stack[stack.length - 1]?.node.kind}}} without {{end}}`,
    );
  return root;
}
