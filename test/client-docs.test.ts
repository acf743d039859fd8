import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  collectDocs,
  type DocEntry,
  renderMarkdown,
  undocumented,
} from '../scripts/client-docs.js';

/**
 * The client's reference documentation (scripts/client-docs.ts): what it
 * extracts, and the check that every export of the client has a doc comment.
 */
describe('client reference docs', () => {
  it('undocumented() names exports without a comment, inside namespaces too', () => {
    const e = (name: string, doc: string, entries?: DocEntry[]): DocEntry => ({
      name,
      kind: entries ? 'namespace' : 'function',
      signature: '',
      doc,
      tags: [],
      members: [],
      source: 'x.ts',
      ...(entries ? { entries } : {}),
    });
    assert.deepEqual(
      undocumented([e('a', 'doc'), e('b', ''), e('ns', 'doc', [e('ns.c', ''), e('ns.d', 'doc')])]),
      ['b', 'ns.c'],
    );
  });

  it('collects a module: signatures, comments, tags, members, namespaces', () => {
    const entries = collectDocs('test/fixtures/client-docs/index.ts');
    const byName = new Map(entries.map((e) => [e.name, e]));
    assert.deepEqual(
      entries.map((e) => e.name),
      ['Alias', 'bare', 'Box', 'documented', 'inner', 'LIMIT', 'Thing'],
    );
    assert.deepEqual(undocumented(entries), ['Alias', 'bare', 'inner.undocumentedInside']);
    const fn = byName.get('documented')!;
    assert.equal(fn.kind, 'function');
    assert.equal(fn.signature, 'function documented(a: number, b?: string | undefined): string;');
    assert.equal(fn.doc, 'Documented function.');
    const thing = byName.get('Thing')!;
    assert.equal(thing.kind, 'interface');
    assert.match(thing.signature, /^export interface Thing \{/);
    assert.doesNotMatch(thing.signature, /The id/);
    assert.deepEqual(
      thing.tags.map((t) => t.name),
      ['example'],
    );
    assert.deepEqual(
      thing.members.map((m) => [m.signature, m.doc]),
      [
        ['id: string', 'The id.'],
        ['optional?: number | undefined', ''],
        ['run(): number', ''],
      ],
    );
    const box = byName.get('Box')!;
    assert.equal(box.kind, 'class');
    assert.match(box.signature, /constructor\(size: number\);/);
    assert.deepEqual(
      box.members.map((m) => m.signature),
      ['size: number', 'double(): number'],
    );
    assert.equal(byName.get('LIMIT')?.signature, 'const LIMIT: 3;');
    assert.equal(byName.get('Alias')?.kind, 'type');
    const inner = byName.get('inner')!;
    assert.equal(inner.kind, 'namespace');
    assert.equal(inner.doc, 'The inner namespace.');
    assert.deepEqual(
      inner.entries?.map((e) => e.name),
      ['inner.inside', 'inner.undocumentedInside'],
    );
    const md = renderMarkdown('Title', 'Intro.', entries);
    assert.match(md, /^# Title\n\nIntro\.\n/);
    assert.match(md, /## `inner`\n\nThe inner namespace\./);
    assert.match(md, /### `documented`\n\nfunction · `test\/fixtures\/client-docs\/index\.ts`/);
    assert.match(md, /\| `id: string` \| The id\. \|/);
    assert.match(md, /_Not documented\._/);
  });

  it('every export of the spec options (src/client/oci) has a doc comment', () => {
    const entries = collectDocs('src/client/oci/index.ts');
    assert.ok(entries.length > 80);
    assert.deepEqual(undocumented(entries), []);
  });

  it('every export of src/client/index.ts has a doc comment', () => {
    assert.deepEqual(undocumented(collectDocs('src/client/index.ts')), []);
  });
});
