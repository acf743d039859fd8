/**
 * @module
 * Reference documentation of berth's TypeScript client, from the code: the
 * exports of an entry module (and of the namespaces it re-exports, such as
 * `oci`), with their signatures from the type checker and their TSDoc
 * comments, rendered as Markdown; and the check that every export has a
 * comment.
 *
 * It uses TypeScript 7's API (`typescript/unstable/sync`: the native
 * compiler, driven over a pipe), the project's devDependency, so it needs no
 * other tool.
 */
import { readFileSync } from 'node:fs';
import { relative, resolve } from 'node:path';
import { SyntaxKind } from 'typescript/unstable/ast';
import {
  API,
  type Checker,
  type Project,
  SignatureKind,
  SymbolFlags,
  type Symbol as TsSymbol,
} from 'typescript/unstable/sync';

export type DocKind =
  | 'function'
  | 'class'
  | 'interface'
  | 'type'
  | 'variable'
  | 'enum'
  | 'namespace';

export interface DocTag {
  readonly name: string;
  readonly text: string;
}

/** A property or method of an interface or class. */
export interface DocMember {
  readonly name: string;
  /** `name: type`, `name?: type` or `name(params): type`. */
  readonly signature: string;
  readonly doc: string;
}

export interface DocEntry {
  /** The exported name, prefixed by its namespaces (`oci.withUser`). */
  readonly name: string;
  readonly kind: DocKind;
  /** TypeScript declaration text, without bodies. */
  readonly signature: string;
  /** The TSDoc comment's text ('' when there is none). */
  readonly doc: string;
  readonly tags: readonly DocTag[];
  readonly members: readonly DocMember[];
  /** Where it is declared, relative to the root, e.g. `src/client/oci/user.ts`. */
  readonly source: string;
  /** A namespace's exports. */
  readonly entries?: readonly DocEntry[];
}

export interface CollectOptions {
  /** The project root (holds tsconfig.json); default the working directory. */
  readonly root?: string;
  /** The tsconfig that includes the entry; default `<root>/tsconfig.check.json`. */
  readonly tsconfig?: string;
}

/**
 * The documented surface of the module `entry` (a path relative to the
 * root): every export, in name order, namespaces expanded.
 */
export function collectDocs(entry: string, opts: CollectOptions = {}): DocEntry[] {
  const root = resolve(opts.root ?? process.cwd());
  const tsconfig = resolve(root, opts.tsconfig ?? 'tsconfig.check.json');
  const api = new API({ cwd: root });
  try {
    const snapshot = api.updateSnapshot({ openProjects: [tsconfig] });
    const project = snapshot.getProject(tsconfig);
    if (!project) throw new Error(`${tsconfig}: not a TypeScript project`);
    const file = resolve(root, entry);
    const sourceFile = project.program.getSourceFile(file);
    if (!sourceFile) throw new Error(`${entry}: not part of ${relative(root, tsconfig)}`);
    const moduleSymbol = project.checker.getSymbolAtLocation(sourceFile);
    if (!moduleSymbol) throw new Error(`${entry}: not a module`);
    return new Collector(project, root).exportsOf(moduleSymbol, '');
  } finally {
    api.close();
  }
}

class Collector {
  readonly #checker: Checker;

  constructor(
    readonly project: Project,
    readonly root: string,
  ) {
    this.#checker = project.checker;
  }

  exportsOf(moduleSymbol: TsSymbol, prefix: string): DocEntry[] {
    const out: DocEntry[] = [];
    for (const exported of this.#checker.getExportsOfModule(moduleSymbol)) {
      const target =
        exported.flags & SymbolFlags.Alias ? this.#checker.getAliasedSymbol(exported) : exported;
      out.push(this.#entry(`${prefix}${exported.name}`, target));
    }
    return out.sort((a, b) => a.name.localeCompare(b.name));
  }

  #entry(name: string, symbol: TsSymbol): DocEntry {
    const kind = kindOf(symbol);
    const source = this.#sourceOf(symbol);
    const base = {
      name,
      kind,
      doc: this.#checker.getDocumentationCommentOfSymbol(symbol).trim(),
      tags: this.#checker
        .getJsDocTagsOfSymbol(symbol)
        .map((t) => ({ name: t.name, text: (t.text ?? '').trim() })),
      source,
    };
    if (kind === 'namespace') {
      return {
        ...base,
        doc: base.doc || moduleComment(resolve(this.root, source)),
        signature: `namespace ${name}`,
        members: [],
        entries: this.exportsOf(symbol, `${name}.`),
      };
    }
    return {
      ...base,
      signature: this.#signature(name, kind, symbol),
      members: this.#members(kind, symbol),
    };
  }

  #signature(name: string, kind: DocKind, symbol: TsSymbol): string {
    const short = name.slice(name.lastIndexOf('.') + 1);
    switch (kind) {
      case 'function': {
        const type = this.#checker.getTypeOfSymbol(symbol);
        if (!type) return `function ${short}()`;
        return this.#checker
          .getSignaturesOfType(type, SignatureKind.Call)
          .map((sig) => `function ${short}${this.#signatureText(sig)};`)
          .join('\n');
      }
      case 'variable': {
        const type = this.#checker.getTypeOfSymbol(symbol);
        return `const ${short}: ${type ? this.#checker.typeToString(type) : 'unknown'};`;
      }
      case 'class': {
        const type = this.#checker.getTypeOfSymbol(symbol);
        const ctors = type ? this.#checker.getSignaturesOfType(type, SignatureKind.Construct) : [];
        const lines = ctors.map((sig) => `  constructor${this.#signatureText(sig, false)};`);
        return `class ${short} {\n${lines.join('\n')}${lines.length ? '\n' : ''}  …\n}`;
      }
      default: {
        const decl = symbol.declarations[0]?.resolve(this.project);
        return decl ? stripComments(this.project.emitter.printNode(decl)) : `${kind} ${short}`;
      }
    }
  }

  /** `(params): ret` of a signature, from its declaration as the checker prints it. */
  #signatureText(
    sig: Parameters<Checker['getReturnTypeOfSignature']>[0],
    withReturn = true,
  ): string {
    const decl = this.#checker.signatureToSignatureDeclaration(sig, SyntaxKind.FunctionType);
    const printed = decl ? this.project.emitter.printNode(decl) : '() => unknown';
    // "(a: A, b: B) => R" → "(a: A, b: B): R"; the arrow is the last one at depth 0
    let depth = 0;
    for (let i = 0; i < printed.length; i++) {
      const c = printed[i];
      if (c === '(' || c === '<' || c === '{' || c === '[') depth++;
      else if (c === ')' || c === '>' || c === '}' || c === ']') {
        if (!(c === '>' && printed[i - 1] === '=')) depth--;
      } else if (depth === 0 && printed.startsWith(' => ', i)) {
        return withReturn ? `${printed.slice(0, i)}: ${printed.slice(i + 4)}` : printed.slice(0, i);
      }
    }
    return printed;
  }

  #members(kind: DocKind, symbol: TsSymbol): DocMember[] {
    if (kind !== 'interface' && kind !== 'class') return [];
    const type = this.#checker.getDeclaredTypeOfSymbol(symbol);
    const out: DocMember[] = [];
    for (const member of this.#checker.getPropertiesOfType(type)) {
      if (member.name.startsWith('#') || member.name.startsWith('__')) continue;
      const memberType = this.#checker.getTypeOfSymbol(member);
      const typeText = memberType ? this.#checker.typeToString(memberType) : 'unknown';
      let signature: string;
      if (member.flags & SymbolFlags.Method && memberType) {
        signature = this.#checker
          .getSignaturesOfType(memberType, SignatureKind.Call)
          .map((sig) => `${member.name}${this.#signatureText(sig)}`)
          .join('\n');
      } else {
        const optional = member.flags & SymbolFlags.Optional ? '?' : '';
        signature = `${member.name}${optional}: ${typeText}`;
      }
      out.push({
        name: member.name,
        signature,
        doc: this.#checker.getDocumentationCommentOfSymbol(member).trim(),
      });
    }
    return out;
  }

  #sourceOf(symbol: TsSymbol): string {
    const path = symbol.declarations[0]?.path ?? symbol.valueDeclaration?.path;
    return path ? relative(this.root, path) : '';
  }
}

function kindOf(symbol: TsSymbol): DocKind {
  const f = symbol.flags;
  if (f & SymbolFlags.Function) return 'function';
  if (f & SymbolFlags.Class) return 'class';
  if (f & SymbolFlags.Interface) return 'interface';
  if (f & SymbolFlags.TypeAlias) return 'type';
  if (f & SymbolFlags.Enum) return 'enum';
  if (f & SymbolFlags.Variable) return 'variable';
  if (f & SymbolFlags.Module) return 'namespace';
  return 'variable';
}

/** The text of a file's leading `@module` comment, without its tags. */
export function moduleComment(file: string): string {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return '';
  }
  const m = /^\s*\/\*\*([\s\S]*?)\*\//.exec(text);
  if (!m?.[1]?.includes('@module')) return '';
  return m[1]
    .split('\n')
    .map((l) => l.replace(/^\s*\* ?/, ''))
    .filter((l) => !l.startsWith('@module'))
    .join('\n')
    .replace(/\{@link\s+([^}\s|]+)[^}]*\}/g, '`$1`')
    .trim();
}

function stripComments(code: string): string {
  return code
    .replace(/\/\*\*[\s\S]*?\*\/\s*/g, '')
    .replace(/^\s*\/\/.*\n/gm, '')
    .trim();
}

/**
 * The exports that have no doc comment, by name (namespaces too, and their
 * exports). Members of interfaces and classes are not required to have one.
 */
export function undocumented(entries: readonly DocEntry[]): string[] {
  const out: string[] = [];
  for (const e of entries) {
    if (e.doc === '') out.push(e.name);
    if (e.entries) out.push(...undocumented(e.entries));
  }
  return out;
}

/** The Markdown reference of `entries`, titled `title`. */
export function renderMarkdown(title: string, intro: string, entries: readonly DocEntry[]): string {
  const lines: string[] = [`# ${title}`, '', intro, ''];
  const top = entries.filter((e) => e.kind !== 'namespace');
  const namespaces = entries.filter((e) => e.kind === 'namespace');
  lines.push('## Contents', '');
  if (top.length)
    lines.push(`- [Top level](#top-level): ${top.map((e) => `\`${e.name}\``).join(', ')}`);
  for (const ns of namespaces) {
    lines.push(`- [\`${ns.name}\`](#${anchor(ns.name)}): ${ns.entries?.length ?? 0} exports`);
  }
  lines.push('');
  if (top.length) {
    lines.push('## Top level', '');
    for (const e of top) renderEntry(lines, e);
  }
  for (const ns of namespaces) {
    lines.push(`## \`${ns.name}\``, '');
    if (ns.doc) lines.push(ns.doc, '');
    const groups = new Map<string, DocEntry[]>();
    for (const e of ns.entries ?? []) {
      const list = groups.get(e.source) ?? [];
      list.push(e);
      groups.set(e.source, list);
    }
    for (const [source, list] of [...groups].sort(([a], [b]) => a.localeCompare(b))) {
      lines.push(`### ${source}`, '');
      for (const e of list) renderEntry(lines, e, '####');
    }
  }
  return `${lines
    .join('\n')
    .replace(/\n{3,}/g, '\n\n')
    .trim()}\n`;
}

function renderEntry(lines: string[], e: DocEntry, heading = '###'): void {
  lines.push(`${heading} \`${e.name}\``, '', `${e.kind} · \`${e.source}\``, '');
  lines.push('```ts', e.signature, '```', '');
  if (e.doc) lines.push(e.doc, '');
  else lines.push('_Not documented._', '');
  for (const tag of e.tags) {
    if (tag.name === 'example') lines.push('Example:', '', tag.text, '');
    else if (tag.name === 'param')
      lines.push(`- \`${tag.text.split(/\s/)[0]}\`: ${tag.text.replace(/^\S+\s*(-\s*)?/, '')}`);
    else lines.push(`**@${tag.name}** ${tag.text}`, '');
  }
  const documented = e.members.filter((m) => m.doc !== '');
  if (documented.length > 0) {
    lines.push('| member | |', '| --- | --- |');
    for (const m of documented) {
      lines.push(
        `| \`${m.signature.replace(/\|/g, '\\|').replace(/\s+/g, ' ')}\` | ${m.doc.replace(/\|/g, '\\|').replace(/\n+/g, ' ')} |`,
      );
    }
    lines.push('');
  }
}

function anchor(name: string): string {
  return name
    .toLowerCase()
    .replace(/[^a-z0-9 -]/g, '')
    .replace(/ /g, '-');
}
