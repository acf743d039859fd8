import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isInvalidArgument } from '../errdefs/index.js';
import {
  type Adaptor,
  alwaysMatch,
  fieldsAdaptor,
  matchAll,
  matchAny,
  parseFilter,
  parseFilters,
} from './index.js';

interface Entry {
  readonly name: string;
  readonly other?: string;
  readonly labels?: Readonly<Record<string, string>>;
}

// containerd's filter test corpus.
const corpus: readonly Entry[] = [
  { name: 'foo', labels: { foo: 'true' } },
  { name: 'bar' },
  { name: 'foo', labels: { foo: 'present', 'more complex label': 'present' } },
  { name: 'bar', labels: { bar: 'true' } },
  { name: 'fooer', labels: { 'more complex label with \\ and "': 'present' } },
  { name: 'fooer', labels: { 'more complex label with \\ and ".post': 'present' } },
  { name: 'baz', other: 'too complex, yo' },
  { name: 'bazo', other: 'abc' },
  { name: 'compound', labels: { foo: 'omg_asdf.asdf-qwer' } },
];

/** Like containerd's test adaptor: empty scalars are absent, labels are looked up by the joined path. */
function adapt(entry: Entry): Adaptor {
  return fieldsAdaptor({
    name: entry.name === '' ? undefined : entry.name,
    other: entry.other === '' ? undefined : entry.other,
    labels: entry.labels ?? {},
  });
}

function indexesMatching(filter: string, options?: { pipeOr?: boolean }): number[] {
  const parsed = parseFilter(filter, options);
  return corpus.flatMap((entry, index) => (parsed.match(adapt(entry)) ? [index] : []));
}

const ALL = corpus.map((_, index) => index);

function assertRejected(filter: string, message: RegExp, options?: { pipeOr?: boolean }): void {
  assert.throws(
    () => parseFilter(filter, options),
    (err: unknown) => {
      assert.ok(isInvalidArgument(err), `${JSON.stringify(filter)} should be invalid_argument`);
      assert.match((err as Error).message, message);
      assert.ok((err as Error).message.startsWith(`filter ${JSON.stringify(filter)}: `));
      return true;
    },
  );
}

describe('parseFilter: containerd behaviour', () => {
  const table: ReadonlyArray<{ doc: string; filter: string; want: readonly number[] }> = [
    { doc: 'empty matches everything', filter: '', want: ALL },
    { doc: 'presence', filter: 'name', want: ALL },
    { doc: 'label presence', filter: 'labels.foo', want: [0, 2, 8] },
    { doc: 'label and name presence', filter: 'labels.foo,name', want: [0, 2, 8] },
    { doc: 'label value', filter: 'labels.foo==true', want: [0] },
    { doc: 'punctuated bare value', filter: 'labels.foo==omg_asdf.asdf-qwer', want: [8] },
    { doc: 'equality', filter: 'name==bar', want: [1, 3] },
    { doc: 'inequality', filter: 'name!=bar', want: [0, 2, 4, 5, 6, 7, 8] },
    { doc: 'equality and presence', filter: 'name==bar,labels.bar', want: [3] },
    { doc: 'quoted value with comma and space', filter: 'other=="too complex, yo"', want: [6] },
    { doc: 'bare regexp', filter: 'other~=[abc]+,name!=foo', want: [6, 7] },
    { doc: 'slash-quoted regexp', filter: 'other~=/[abc]+/,name!=foo', want: [6, 7] },
    {
      doc: 'slash-quoted regexp with a comma',
      filter: 'other~=/[abc]{1,2}/,name!=foo',
      want: [6, 7],
    },
    { doc: 'quoted regexp with escapes', filter: 'other~=/[abc]{0,1}"\\//,name!=foo', want: [] },
    { doc: 'equality and label value', filter: 'name==bar,labels.bar==true', want: [3] },
    { doc: 'no match', filter: 'name==bar,labels.bar==wrong', want: [] },
    { doc: 'quoted field', filter: 'name==foo,labels."more complex label"', want: [2] },
    {
      doc: 'quoted field with escapes',
      filter: 'labels."more complex label with \\\\ and \\""==present',
      want: [4],
    },
    {
      doc: 'quoted field followed by a bare one',
      filter: 'labels."more complex label with \\\\ and \\"".post==present',
      want: [5],
    },
    { doc: 'unicode bare value', filter: 'name~=牛,labels.moo==true', want: [] },
    { doc: 'pipe-quoted regexp', filter: 'name~=|^ba|', want: [1, 3, 6, 7] },
    { doc: 'escaped bare regexp', filter: 'name~=^fo\\w+$', want: [0, 2, 4, 5] },
    { doc: 'double-quoted regexp', filter: 'name~="^(foo|bar)$"', want: [0, 1, 2, 3] },
    { doc: 'spaces around the operator', filter: 'name == bar', want: [1, 3] },
  ];
  for (const { doc, filter, want } of table) {
    it(doc, () => {
      assert.deepEqual(indexesMatching(filter), want, filter);
      assert.deepEqual(
        indexesMatching(filter, { pipeOr: false }),
        want,
        `${filter} without pipeOr`,
      );
    });
  }
});

describe('parseFilter: errors', () => {
  const table: ReadonlyArray<{ doc: string; filter: string; message: RegExp }> = [
    {
      doc: 'pipe-quoted field',
      filter: 'labels.|foo|==x',
      message: /expected field name or quoted field at position 7$/,
    },
    {
      doc: 'slash-quoted field',
      filter: 'labels./foo/==x',
      message: /invalid quote "\/".* at position 7$/,
    },
    {
      doc: 'junk before a quoted field',
      filter: 'labels.?"x"==present',
      message: /expected field name .* at position 7$/,
    },
    {
      doc: 'trailing comma',
      filter: 'name==foo,',
      message: /expected field name or quoted field at position 10$/,
    },
    {
      doc: 'leading comma',
      filter: ',name',
      message: /expected field name or quoted field at position 0$/,
    },
    {
      doc: 'trailing dot',
      filter: 'labels.',
      message: /expected field name or quoted field at position 7$/,
    },
    {
      doc: 'missing value',
      filter: 'name==',
      message: /expected value or quoted value at position 6$/,
    },
    {
      doc: 'missing value before comma',
      filter: 'image~=,id?=?fbaq',
      message: /expected value .* at position 7$/,
    },
    {
      doc: 'value starting with a dot',
      filter: 'name==.x',
      message: /expected value .* at position 6$/,
    },
    {
      doc: 'unquoted slash in a field',
      filter: 'labels.ns/key==value',
      message: /unexpected "\/".*quoted.* at position 9$/,
    },
    {
      doc: 'unterminated slash quote',
      filter: 'labels.key~=/value',
      message: /unterminated quoted string at position 12$/,
    },
    {
      doc: 'unterminated double quote',
      filter: 'name=="abc',
      message: /unterminated quoted string at position 6$/,
    },
    {
      doc: 'newline inside quotes',
      filter: 'labels."a\nb"==c',
      message: /unterminated quoted string at position 7$/,
    },
    {
      doc: 'illegal escape',
      filter: 'labels."\\g"',
      message: /invalid escape sequence "\\g" at position 8$/,
    },
    {
      doc: 'short hex escape',
      filter: 'labels."\\xaz"',
      message: /invalid numeric escape sequence "\\xaz" at position 8$/,
    },
    {
      doc: 'octal escape out of range',
      filter: 'name=="\\400"',
      message: /out of range at position 7$/,
    },
    {
      doc: 'code point out of range',
      filter: 'name=="\\U00110000"',
      message: /not a valid code point/,
    },
    { doc: 'escaped foreign quote', filter: 'name=="\\/"', message: /invalid escape sequence/ },
    {
      doc: 'null character',
      filter: 'foo\0bar',
      message: /unexpected null character at position 3$/,
    },
    { doc: 'lone surrogate', filter: 'name==\ud800', message: /lone surrogate at position 6$/ },
    { doc: 'single =', filter: 'name=foo', message: /unsupported operator "=".* at position 4$/ },
    {
      doc: 'too many =',
      filter: 'name===foo',
      message: /unsupported operator "===".* at position 4$/,
    },
    { doc: 'operator glued to value', filter: 'name==!foo', message: /unsupported operator "==!"/ },
    {
      doc: 'two values',
      filter: 'doublevalue==value value',
      message: /unexpected "v", expected ",", "\|" or end of filter at position 19$/,
    },
    {
      doc: 'junk after quoted value',
      filter: 'name=="a"b',
      message: /unexpected "b".* at position 9$/,
    },
    {
      doc: 'slash quote with ==',
      filter: 'name==/foo/',
      message: /invalid quote "\/", only "~=" values.* at position 6$/,
    },
    {
      doc: 'pipe quote with !=',
      filter: 'name!=|foo|',
      message: /invalid quote "\|".* at position 6$/,
    },
    {
      doc: 'invalid regexp',
      filter: 'name~=a**',
      message:
        /invalid regular expression "a\*\*" at position 6: invalid nested repetition operator: `\*\*`$/,
    },
    {
      doc: 'lookahead',
      filter: 'name~=a(?=b)',
      message: /invalid or unsupported Perl syntax: `\(\?=`$/,
    },
    {
      doc: 'empty alternative',
      filter: 'name=="a"||name==b',
      message: /expected field name or quoted field at position 10$/,
    },
    { doc: 'trailing pipe', filter: 'name==a |', message: /expected field name .* at position 9$/ },
    { doc: 'leading pipe', filter: '|name', message: /expected field name .* at position 0$/ },
  ];
  for (const { doc, filter, message } of table) {
    it(doc, () => assertRejected(filter, message));
  }

  it('renders the example message exactly', () => {
    assert.throws(() => parseFilter('name=='), {
      message: 'filter "name==": expected value or quoted value at position 6',
    });
    assert.throws(
      () => parseFilter('name==', {}),
      (err: unknown) =>
        String(err) ===
        'filter "name==": expected value or quoted value at position 6: invalid argument',
    );
  });

  it('names the failing string among several', () => {
    assert.throws(() => parseFilters(['name==a', 'labels.']), { message: /^filter "labels\.": / });
  });
});

describe('selector semantics', () => {
  const fields = fieldsAdaptor({ name: 'foo', empty: '', labels: { k: 'v' } });
  const table: ReadonlyArray<{ doc: string; filter: string; want: boolean }> = [
    { doc: 'present field', filter: 'name', want: true },
    { doc: 'present empty field', filter: 'empty', want: true },
    { doc: 'absent field', filter: 'missing', want: false },
    { doc: '== on a present field', filter: 'name==foo', want: true },
    { doc: '== on an absent field', filter: 'missing==foo', want: false },
    { doc: '== "" on an absent field', filter: 'missing==""', want: false },
    { doc: '== "" on an empty field', filter: 'empty==""', want: true },
    { doc: '!= on an absent field', filter: 'missing!=foo', want: true },
    { doc: '!= "" on an absent field reads it as empty', filter: 'missing!=""', want: false },
    { doc: '!= on an equal value', filter: 'name!=foo', want: false },
    { doc: '~= finds a match anywhere', filter: 'name~=o', want: true },
    { doc: '~= anchored', filter: 'name~=^o', want: false },
    { doc: '~= on an absent field reads it as empty', filter: 'missing~=^$', want: true },
    { doc: '~= needing a character on an absent field', filter: 'missing~=/./', want: false },
    { doc: 'label by bare path', filter: 'labels.k==v', want: true },
    { doc: 'object itself is absent', filter: 'labels', want: false },
    { doc: 'too deep', filter: 'name.x', want: false },
  ];
  for (const { doc, filter, want } of table) {
    it(doc, () => assert.equal(parseFilter(filter).match(fields), want, filter));
  }
});

describe('quoted strings', () => {
  const table: ReadonlyArray<{ doc: string; filter: string; value: string; pipeOr?: boolean }> = [
    {
      doc: 'simple escapes',
      filter: 'v=="\\a\\b\\f\\n\\r\\t\\v\\\\\\""',
      value: '\x07\b\f\n\r\t\v\\"',
    },
    { doc: 'utf-8 bytes', filter: 'v=="\\xe2\\x82\\xac"', value: '€' },
    { doc: 'octal bytes', filter: 'v=="\\101\\142"', value: 'Ab' },
    { doc: 'short unicode', filter: 'v=="\\u00e9"', value: 'é' },
    { doc: 'long unicode', filter: 'v=="\\U0001F600"', value: '😀' },
    { doc: 'invalid utf-8', filter: 'v=="\\xff"', value: '\ufffd' },
    { doc: 'raw unicode', filter: 'v=="é 😀, x"', value: 'é 😀, x' },
    { doc: 'raw tab', filter: 'v=="a\tb"', value: 'a\tb' },
    { doc: 'empty', filter: 'v==""', value: '' },
    { doc: 'single quotes are not quotes', filter: "v=='x'", value: "'x'" },
    { doc: 'bare value with quote chars', filter: 'v==a"b/c|d', value: 'a"b/c|d', pipeOr: false },
    { doc: 'bare value with operators', filter: 'v==a=b!c~d', value: 'a=b!c~d' },
    { doc: 'bare unicode', filter: 'v==牛😀', value: '牛😀' },
    { doc: 'slash-quoted with escaped slash', filter: 'v~=/^a\\/b$/', value: 'a/b' },
    { doc: 'pipe-quoted with slash', filter: 'v~=|^a/b$|', value: 'a/b' },
  ];
  for (const { doc, filter, value, pipeOr } of table) {
    it(doc, () => {
      const options = { pipeOr: pipeOr ?? true };
      assert.equal(parseFilter(filter, options).match(fieldsAdaptor({ v: value })), true, filter);
      assert.equal(
        parseFilter(filter, options).match(fieldsAdaptor({ v: `${value}x` })),
        false,
        filter,
      );
    });
  }

  it('finds labels by quoted or dotted path alike', () => {
    const adaptor = fieldsAdaptor({ labels: { 'io.containerd.x': 'y', 'a/b': 'c' } });
    assert.equal(parseFilter('labels."io.containerd.x"==y').match(adaptor), true);
    assert.equal(parseFilter('labels.io.containerd.x==y').match(adaptor), true);
    assert.equal(parseFilter('labels."a/b"==c').match(adaptor), true);
    assert.equal(parseFilter('"labels"."a/b"').match(adaptor), true);
  });
});

describe('OR', () => {
  const table: ReadonlyArray<{ doc: string; filter: string; want: readonly number[] }> = [
    { doc: 'two selectors', filter: 'name==bar | name==baz', want: [1, 3, 6] },
    { doc: 'after quoted values', filter: 'name=="bar"|name=="baz"', want: [1, 3, 6] },
    { doc: 'comma binds tighter', filter: 'name==foo,labels.foo==true | name==baz', want: [0, 6] },
    {
      doc: 'comma on both sides',
      filter: 'name==foo,labels.foo==true | name==bar,labels.bar',
      want: [0, 3],
    },
    { doc: 'presence alternatives', filter: 'other|labels.bar', want: [3, 6, 7] },
    { doc: 'spaces', filter: 'name == bar | name == baz', want: [1, 3, 6] },
    {
      doc: 'a pipe inside a bare value is part of it, as in containerd',
      filter: 'name~=^(foo|baz)$',
      want: [0, 2, 6],
    },
    { doc: 'quoted alternation stays a regexp', filter: 'name~="^(foo|bar)$"', want: [0, 1, 2, 3] },
    {
      doc: 'pipe-quoted regexp still works',
      filter: 'name~=|^baz|,other|name==bar',
      want: [1, 3, 6, 7],
    },
    { doc: 'pipe inside a double-quoted value', filter: 'other=="a|b"|name==bar', want: [1, 3] },
  ];
  for (const { doc, filter, want } of table) {
    it(doc, () => assert.deepEqual(indexesMatching(filter), want, filter));
  }

  it('reads every containerd filter as containerd does, and can be turned off', () => {
    const adaptor = fieldsAdaptor({ name: 'a|b' });
    assert.equal(parseFilter('name==a|b', { pipeOr: false }).match(adaptor), true);
    assert.equal(parseFilter('name==a|b').match(adaptor), true);
    assert.equal(parseFilter('name~=^(x|a)', { pipeOr: false }).match(adaptor), true);
    assert.equal(parseFilter('name~=^(x|a)').match(adaptor), true);
    assert.equal(parseFilter('name==a|name==b').match(fieldsAdaptor({ name: 'a|name==b' })), true);
    assert.equal(
      parseFilter('name==a|name==b', { pipeOr: false }).match(fieldsAdaptor({ name: 'a|name==b' })),
      true,
    );
    assertRejected(
      'name=="a"|name==b',
      /unexpected "\|", expected "," or end of filter at position 9$/,
      {
        pipeOr: false,
      },
    );
  });
});

describe('parseFilters', () => {
  const table: ReadonlyArray<{ doc: string; filters: readonly string[]; want: readonly number[] }> =
    [
      { doc: 'none match everything', filters: [], want: ALL },
      { doc: 'one', filters: ['name==bar'], want: [1, 3] },
      { doc: 'any of several', filters: ['name==bar', 'labels.foo==true'], want: [0, 1, 3] },
      { doc: 'an empty string matches everything', filters: ['name==bar', ''], want: ALL },
      { doc: 'a blank string matches everything', filters: ['  '], want: ALL },
      { doc: 'with AND inside', filters: ['name==bar,labels.bar', 'other==abc'], want: [3, 7] },
    ];
  for (const { doc, filters, want } of table) {
    it(doc, () => {
      const parsed = parseFilters(filters);
      assert.deepEqual(
        corpus.flatMap((entry, index) => (parsed.match(adapt(entry)) ? [index] : [])),
        want,
      );
    });
  }

  it('returns the shared always filter for empty input', () => {
    assert.equal(parseFilters([]), alwaysMatch);
    assert.equal(parseFilter(''), alwaysMatch);
    assert.equal(parseFilter(' \t\n'), alwaysMatch);
  });
});

describe('regular expressions (Go RE2 syntax)', () => {
  // Each pattern, strings it matches and strings it does not, as Go's regexp decides.
  const table: ReadonlyArray<{
    doc: string;
    pattern: string;
    yes: readonly string[];
    no: readonly string[];
  }> = [
    { doc: 'unanchored search', pattern: 'b', yes: ['abc'], no: ['ac'] },
    { doc: 'dot excludes only newline', pattern: '^a.b$', yes: ['a\rb', 'a\u2028b'], no: ['a\nb'] },
    { doc: '(?s) dot matches newline', pattern: '(?s)^a.b$', yes: ['a\nb'], no: ['ab'] },
    { doc: '$ is end of text', pattern: 'a$', yes: ['xa'], no: ['a\n', 'a\nb'] },
    {
      doc: '(?m) lines end at \\n only',
      pattern: '(?m)^b$',
      yes: ['a\nb\nc'],
      no: ['a\rb\rc', 'a\u2028b'],
    },
    { doc: '\\A and \\z', pattern: '(?m)\\Aa$\\z', yes: ['a'], no: ['a\n', 'b\na'] },
    {
      doc: '\\s is ASCII without \\v',
      pattern: '^\\s$',
      yes: [' ', '\t', '\n', '\f', '\r'],
      no: ['\v', '\u00a0', '\u2028'],
    },
    {
      doc: '\\S is its complement',
      pattern: '^\\S$',
      yes: ['\v', '\u00a0', 'x', '😀'],
      no: [' ', '\n'],
    },
    { doc: '\\S inside a class', pattern: '^[\\S]$', yes: ['\v', 'x'], no: ['\t'] },
    { doc: '\\d and \\w are ASCII', pattern: '^\\w\\d$', yes: ['a1', '_9'], no: ['é1', 'a٣'] },
    { doc: 'POSIX class', pattern: '^[[:alpha:]]+$', yes: ['abcXYZ'], no: ['ab1', 'é'] },
    { doc: 'negated POSIX class', pattern: '^[[:^alpha:]]$', yes: ['1', 'é', '😀'], no: ['a'] },
    { doc: 'POSIX class and range', pattern: '^[[:digit:]a-c]+$', yes: ['1a2b'], no: ['d'] },
    { doc: 'unicode category', pattern: '^\\pL\\p{Lu}$', yes: ['aB', 'éÉ'], no: ['ab', '1B'] },
    { doc: 'unicode script', pattern: '^\\p{Greek}+$', yes: ['αβγ'], no: ['abc'] },
    { doc: 'negated script', pattern: '^\\p{^Greek}$', yes: ['a'], no: ['α'] },
    { doc: '\\P', pattern: '^\\PL$', yes: ['1'], no: ['a'] },
    { doc: 'unicode class in a class', pattern: '^[\\p{Han}x]+$', yes: ['漢x'], no: ['a'] },
    { doc: 'octal escapes', pattern: '^\\141\\0$', yes: ['a\0'], no: ['a'] },
    { doc: 'hex escapes', pattern: '^\\x61\\x{1F600}$', yes: ['a😀'], no: ['a'] },
    { doc: 'control escapes', pattern: '^\\a\\f\\t\\n\\r\\v$', yes: ['\x07\f\t\n\r\v'], no: [''] },
    { doc: 'escaped punctuation', pattern: '^\\-\\#\\ \\/$', yes: ['-# /'], no: ['-#/'] },
    { doc: '\\Q...\\E literal text', pattern: '^\\Qa.b*\\E$', yes: ['a.b*'], no: ['axbb'] },
    { doc: 'unterminated \\Q', pattern: '^\\Q(?i)', yes: ['(?i)'], no: ['x'] },
    { doc: 'literal braces', pattern: '^a{,2}x{$', yes: ['a{,2}x{'], no: ['aa'] },
    { doc: 'leading zero is not a repeat', pattern: '^a{02}$', yes: ['a{02}'], no: ['aa'] },
    { doc: 'literal ] and }', pattern: '^]}$', yes: [']}'], no: [''] },
    { doc: 'counted repeat', pattern: '^a{2,3}$', yes: ['aa', 'aaa'], no: ['a', 'aaaa'] },
    { doc: 'open repeat', pattern: '^a{2,}$', yes: ['aaaaa'], no: ['a'] },
    { doc: 'lazy and ungreedy forms', pattern: '(?U)^a+?b??$', yes: ['aa', 'ab'], no: ['b'] },
    { doc: 'repeated assertion', pattern: '^*a', yes: ['a'], no: ['b'] },
    { doc: '] first in a class', pattern: '^[]a]+$', yes: [']a'], no: ['b'] },
    { doc: '- at the ends of a class', pattern: '^[-a-]+$', yes: ['-a'], no: ['b'] },
    { doc: '- after a class escape', pattern: '^[\\d-z]+$', yes: ['1-z'], no: ['a'] },
    {
      doc: 'escaped specials in a class',
      pattern: '^[\\]\\[\\^\\\\]+$',
      yes: ['][^\\'],
      no: ['a'],
    },
    { doc: 'negated class matches newline', pattern: '^[^a]$', yes: ['\n'], no: ['a'] },
    {
      doc: 'named groups, (?<name> as since Go 1.22',
      pattern: '^(?P<x>a)(?<y>b)(?P<x>c)$',
      yes: ['abc'],
      no: ['ab'],
    },
    { doc: 'scoped flags', pattern: '^(?s:.)(?m:$)', yes: ['\n'], no: ['ab'] },
    {
      doc: 'whole-pattern (?i)',
      pattern: '(?i)^straße$',
      yes: ['STRAßE', 'Straße'],
      no: ['strasse'],
    },
    { doc: '(?i) folds classes', pattern: '(?i)^[a-c]+$', yes: ['ABC'], no: ['D'] },
    { doc: 'Kelvin sign folds to k', pattern: '(?i)^k$', yes: ['K', '\u212a'], no: ['x'] },
    { doc: '(?i) cleared before any letter', pattern: '(?i)(?-i)^a$', yes: ['a'], no: ['A'] },
    { doc: 'empty alternative', pattern: '^(|a)$', yes: ['', 'a'], no: ['b'] },
    { doc: 'astral literal', pattern: '^😀+$', yes: ['😀😀'], no: ['\ud83d'] },
    {
      doc: 'nested repeat within the limit',
      pattern: '^(a{2}){500}$',
      yes: ['a'.repeat(1000)],
      no: ['a'],
    },
  ];
  for (const { doc, pattern, yes, no } of table) {
    it(doc, () => {
      const filter = parseFilter(`v~=${JSON.stringify(pattern)}`);
      for (const value of yes) {
        assert.equal(
          filter.match(fieldsAdaptor({ v: value })),
          true,
          `${pattern} should match ${JSON.stringify(value)}`,
        );
      }
      for (const value of no) {
        assert.equal(
          filter.match(fieldsAdaptor({ v: value })),
          false,
          `${pattern} should not match ${JSON.stringify(value)}`,
        );
      }
    });
  }

  const errors: ReadonlyArray<{ doc: string; pattern: string; message: RegExp }> = [
    {
      doc: 'nested repetition',
      pattern: 'a*?*',
      message: /invalid nested repetition operator: `\*\?\*`/,
    },
    {
      doc: 'nested counted repetition',
      pattern: 'a{2}{3}',
      message: /invalid nested repetition operator: `\{2\}\{3\}`/,
    },
    {
      doc: 'missing argument',
      pattern: '*a',
      message: /missing argument to repetition operator: `\*`/,
    },
    {
      doc: 'missing argument after \\Q\\E',
      pattern: '\\Q\\E+',
      message: /missing argument to repetition operator/,
    },
    { doc: 'repeat too large', pattern: 'a{1001}', message: /invalid repeat count: `\{1001\}`/ },
    {
      doc: 'nested repeat too large',
      pattern: '(a{10}){200}',
      message: /invalid repeat count: `\{200\}`/,
    },
    { doc: 'reversed repeat', pattern: 'a{2,1}', message: /invalid repeat count: `\{2,1\}`/ },
    { doc: 'backreference', pattern: '(a)\\1', message: /invalid escape sequence: `\\1`/ },
    { doc: 'digit escape', pattern: '\\8', message: /invalid escape sequence: `\\8`/ },
    { doc: 'letter escape', pattern: '\\Z', message: /invalid escape sequence: `\\Z`/ },
    { doc: 'any-byte escape', pattern: '\\C', message: /invalid escape sequence: `\\C`/ },
    { doc: 'short hex', pattern: '\\x4', message: /invalid escape sequence: `\\x4`/ },
    { doc: 'empty braced hex', pattern: '\\x{}', message: /invalid escape sequence/ },
    { doc: 'hex beyond unicode', pattern: '\\x{110000}', message: /invalid escape sequence/ },
    {
      doc: 'trailing backslash',
      pattern: 'a\\',
      message: /trailing backslash at end of expression/,
    },
    { doc: 'unclosed group', pattern: '(a', message: /missing closing \): `\(a`/ },
    { doc: 'unopened group', pattern: 'a)', message: /unexpected \): `a\)`/ },
    { doc: 'unclosed class', pattern: '[a', message: /missing closing \]: `\[a`/ },
    { doc: '[] is unclosed', pattern: '[]', message: /missing closing \]/ },
    { doc: 'reversed range', pattern: '[z-a]', message: /invalid character class range: `z-a`/ },
    {
      doc: 'class escape as range end',
      pattern: '[a-\\d]',
      message: /invalid escape sequence: `\\d`/,
    },
    {
      doc: 'unknown POSIX class',
      pattern: '[[:foo:]]',
      message: /invalid character class range: `\[:foo:\]`/,
    },
    {
      doc: 'unknown unicode class',
      pattern: '\\p{Foo}',
      message: /invalid character class range: `\\p\{Foo\}`/,
    },
    { doc: 'unclosed unicode class', pattern: '\\p{L', message: /invalid character class range/ },
    { doc: 'lookbehind', pattern: '(?<=a)b', message: /invalid or unsupported Perl syntax/ },
    {
      doc: 'named backreference',
      pattern: '(?P=n)',
      message: /invalid or unsupported Perl syntax: `\(\?P`/,
    },
    {
      doc: 'empty negated flags',
      pattern: '(?i-)a',
      message: /invalid or unsupported Perl syntax: `\(\?i-\)`/,
    },
    { doc: 'bad capture name', pattern: '(?P<a-b>x)', message: /invalid named capture/ },
    { doc: 'empty capture name', pattern: '(?P<>x)', message: /invalid named capture/ },
    {
      doc: 'partial (?i)',
      pattern: 'a(?i)b',
      message: /case-insensitive matching that covers only part of the pattern/,
    },
    { doc: 'scoped (?i)', pattern: 'x(?i:y)', message: /put \(\?i\) at the start/ },
    {
      doc: 'deep nesting',
      pattern: `${'('.repeat(1001)}${')'.repeat(1001)}`,
      message: /expression nests too deeply/,
    },
  ];
  for (const { doc, pattern, message } of errors) {
    it(`rejects: ${doc}`, () => assertRejected(`v~=${JSON.stringify(pattern)}`, message));
  }
});

describe('filters are reusable', () => {
  it('gives the same answers on every call', () => {
    const filter = parseFilter('name~=o+,labels.foo|other~=c$');
    const first = corpus.map((entry) => filter.match(adapt(entry)));
    for (let round = 0; round < 3; round++) {
      assert.deepEqual(
        corpus.map((entry) => filter.match(adapt(entry))),
        first,
      );
    }
    assert.deepEqual(first, [true, false, true, false, false, false, false, true, true]);
  });

  it('cannot be modified', () => {
    const filter = parseFilter('name==a');
    assert.ok(Object.isFrozen(filter));
    assert.ok(Object.isFrozen(alwaysMatch));
  });

  it('hands adaptors a frozen field path', () => {
    const seen: (readonly string[])[] = [];
    parseFilter('labels."a.b".c==x').match((fieldpath) => {
      seen.push(fieldpath);
      return undefined;
    });
    assert.deepEqual(seen, [['labels', 'a.b', 'c']]);
    assert.ok(Object.isFrozen(seen[0]));
  });
});

describe('combinators', () => {
  const yes = { match: () => true };
  const no = { match: () => false };
  const adaptor: Adaptor = () => undefined;
  it('matchAll', () => {
    assert.equal(matchAll([]).match(adaptor), true);
    assert.equal(matchAll([yes, yes]).match(adaptor), true);
    assert.equal(matchAll([yes, no]).match(adaptor), false);
  });
  it('matchAny', () => {
    assert.equal(matchAny([]).match(adaptor), false);
    assert.equal(matchAny([no, yes]).match(adaptor), true);
    assert.equal(matchAny([no, no]).match(adaptor), false);
  });
});

describe('fieldsAdaptor', () => {
  const adaptor = fieldsAdaptor({
    name: 'x',
    empty: '',
    size: 42,
    big: 7n,
    ok: false,
    nothing: null,
    unset: undefined,
    labels: { k: 'v', 'io.containerd.x': 'dotted', 'a.b': 'joined', a: { b: 'nested' } },
    target: { digest: 'sha256:abc', platform: { os: 'linux' } },
    map: new Map<string, unknown>([
      ['k', 'from map'],
      ['x.y', 'joined map key'],
    ]),
    list: ['zero'],
  });
  const table: ReadonlyArray<{
    doc: string;
    fieldpath: readonly string[];
    want: string | undefined;
  }> = [
    { doc: 'top-level string', fieldpath: ['name'], want: 'x' },
    { doc: 'empty string is present', fieldpath: ['empty'], want: '' },
    { doc: 'number', fieldpath: ['size'], want: '42' },
    { doc: 'bigint', fieldpath: ['big'], want: '7' },
    { doc: 'boolean', fieldpath: ['ok'], want: 'false' },
    { doc: 'null is absent', fieldpath: ['nothing'], want: undefined },
    { doc: 'undefined is absent', fieldpath: ['unset'], want: undefined },
    { doc: 'missing key', fieldpath: ['nope'], want: undefined },
    { doc: 'label', fieldpath: ['labels', 'k'], want: 'v' },
    {
      doc: 'dotted label by segments',
      fieldpath: ['labels', 'io', 'containerd', 'x'],
      want: 'dotted',
    },
    {
      doc: 'dotted label by quoted segment',
      fieldpath: ['labels', 'io.containerd.x'],
      want: 'dotted',
    },
    { doc: 'joined key wins over nesting', fieldpath: ['labels', 'a', 'b'], want: 'joined' },
    { doc: 'nested objects', fieldpath: ['target', 'platform', 'os'], want: 'linux' },
    { doc: 'object is absent', fieldpath: ['target'], want: undefined },
    { doc: 'path through a string', fieldpath: ['name', 'length'], want: undefined },
    { doc: 'map key', fieldpath: ['map', 'k'], want: 'from map' },
    { doc: 'joined map key', fieldpath: ['map', 'x', 'y'], want: 'joined map key' },
    { doc: 'arrays are not descended into', fieldpath: ['list', '0'], want: undefined },
    { doc: 'array length is not a field', fieldpath: ['list', 'length'], want: undefined },
    { doc: 'inherited properties are absent', fieldpath: ['constructor'], want: undefined },
    { doc: '__proto__ is absent', fieldpath: ['__proto__'], want: undefined },
    { doc: 'toString is absent', fieldpath: ['labels', 'toString'], want: undefined },
    { doc: 'empty path', fieldpath: [], want: undefined },
  ];
  for (const { doc, fieldpath, want } of table) {
    it(doc, () => assert.equal(adaptor(fieldpath), want));
  }
});
