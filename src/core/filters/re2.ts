/**
 * Compiles Go (RE2) regular expression syntax into an equivalent JavaScript
 * `RegExp`, for "does it match anywhere" tests.
 *
 * The pattern is parsed with RE2's rules (so what Go rejects is rejected
 * here, with Go's error texts) and re-emitted in `u` mode, keeping RE2's
 * meaning where JavaScript's differs: `.` excludes only `\n`, `\s` is
 * `[\t\n\f\r ]`, `(?m)` lines end only at `\n`, `\pX`/`\p{Script}` are
 * spelled for JavaScript, octal and `\x{...}` escapes and `\Q...\E` are
 * rewritten, counted repetition is limited to 1000 and groups never capture.
 *
 * Not supported, with an error: `(?i)` that covers only part of a pattern
 * (JavaScript has no scoped flags before Node 23), and `\C`. Greediness
 * (`(?U)`, `*?`) is accepted; it cannot change whether a match exists.
 *
 * Unlike RE2, JavaScript backtracks: pathological patterns such as `(a+)+$`
 * can take exponential time on long non-matching input.
 */
import { MAX_REPEAT, type Node, Re2Parser, Re2SyntaxError } from './re2-parser.js';
import { escapeCodePoint } from './re2-tables.js';

export { Re2SyntaxError } from './re2-parser.js';

/** Compiles `pattern` (Go syntax); throws {@link Re2SyntaxError}. */
export function compileRe2(pattern: string): RegExp {
  const parser = new Re2Parser(pattern);
  const tree = parser.parse();
  checkRepeatSize(tree, MAX_REPEAT);
  if (parser.foldStates.size > 1) {
    throw new Re2SyntaxError(
      'case-insensitive matching that covers only part of the pattern is not supported; put (?i) at the start',
    );
  }
  const source = emit(tree);
  try {
    return new RegExp(source, parser.foldStates.has(true) ? 'iu' : 'u');
  } catch (err) {
    throw new Re2SyntaxError(
      `cannot be expressed as a JavaScript regular expression: ${(err as Error).message}`,
    );
  }
}

/** RE2's limit on nested counted repetition, e.g. `(a{10}){200}`; names the outermost counted repeat. */
function checkRepeatSize(node: Node, budget: number, outerOp?: string): void {
  if (node.type === 'repeat') {
    let n = budget;
    let op = outerOp;
    if (node.counted && node.max !== 0) {
      op ??= node.op;
      const m = node.max < 0 ? node.min : node.max;
      if (m > n) {
        throw new Re2SyntaxError(`invalid repeat count: \`${op}\``);
      }
      if (m > 0) {
        n = Math.floor(n / m);
      }
    }
    checkRepeatSize(node.sub, n, op);
  } else if (node.type === 'group') {
    for (const alternative of node.alternatives) {
      for (const sub of alternative) {
        checkRepeatSize(sub, budget, outerOp);
      }
    }
  }
}

function emit(node: Node): string {
  switch (node.type) {
    case 'char':
      return escapeCodePoint(node.cp, false);
    case 'set':
    case 'assert':
      return node.source;
    case 'group':
      return `(?:${node.alternatives.map((alternative) => alternative.map(emit).join('')).join('|')})`;
    case 'repeat': {
      const sub = emit(node.sub);
      const atom =
        node.sub.type === 'char' || node.sub.type === 'set' || node.sub.type === 'group'
          ? sub
          : `(?:${sub})`;
      const { min, max } = node;
      const quantifier = max === min ? `{${min}}` : max < 0 ? `{${min},}` : `{${min},${max}}`;
      return atom + quantifier;
    }
  }
}
