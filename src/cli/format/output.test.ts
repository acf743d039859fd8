import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isInvalidArgument } from '../../core/errdefs/index.js';
import { formatOutput, type TableSpec } from './output.js';
import { alignTabs, renderTable } from './table.js';

interface Row {
  ID: string;
  Image: string;
  Names: string;
  Ports: string;
}

const rows: Row[] = [
  { ID: '0123456789ab', Image: 'busybox', Names: 'web', Ports: '127.0.0.1:8080->80/tcp' },
  { ID: 'ba9876543210', Image: 'registry.local/httpd:1', Names: 'db', Ports: '' },
];

const spec: TableSpec<Row> = {
  columns: [
    { header: 'CONTAINER ID', value: (r) => r.ID },
    { header: 'IMAGE', value: (r) => r.Image },
    { header: 'PORTS', value: (r) => r.Ports },
    { header: 'NAMES', value: (r) => r.Names },
  ],
  headers: { ID: 'CONTAINER ID', Image: 'IMAGE', Names: 'NAMES', Ports: 'PORTS' },
};

describe('renderTable', () => {
  it('pads columns to the widest cell plus 3, at least 10, the last column unpadded', () => {
    const out = renderTable(spec.columns, rows);
    assert.equal(
      out,
      [
        'CONTAINER ID   IMAGE                    PORTS                    NAMES',
        '0123456789ab   busybox                  127.0.0.1:8080->80/tcp   web',
        'ba9876543210   registry.local/httpd:1                            db',
        '',
      ].join('\n'),
    );
  });

  it('has docker minimum column width of 10 (IMAGE then 5 spaces)', () => {
    const out = renderTable(
      [
        { header: 'image', value: (r: string) => r },
        { header: 'tag', value: () => 'latest' },
      ],
      ['a'],
    );
    assert.equal(out, 'IMAGE     TAG\na         latest\n');
  });

  it('leaves no trailing spaces when the last cells are empty', () => {
    const out = renderTable(
      [
        { header: 'A', value: (r: string) => r },
        { header: 'B', value: () => '' },
      ],
      ['x'],
    );
    for (const line of out.split('\n')) assert.equal(line, line.trimEnd());
    assert.equal(out, 'A         B\nx\n');
  });

  it('prints only the header for no rows, nothing with noHeader', () => {
    assert.equal(renderTable(spec.columns, []), 'CONTAINER ID   IMAGE     PORTS     NAMES\n');
    assert.equal(renderTable(spec.columns, [], { noHeader: true }), '');
  });

  it('keeps a tab or newline inside a value from breaking the table', () => {
    const out = renderTable(
      [
        { header: 'A', value: (r: string) => r },
        { header: 'B', value: () => 'b' },
      ],
      ['x\ty\nz'],
    );
    assert.equal(out, 'A         B\nx y z     b\n');
  });

  it('counts characters, not bytes, for widths', () => {
    assert.deepEqual(alignTabs('héllo\tx\nab\ty'), ['héllo     x', 'ab        y']);
  });

  it('aligns column blocks as tabwriter: a line with fewer cells ends the block', () => {
    assert.deepEqual(alignTabs('a\tb\nlong-cell-value\tc\nno tabs here\nx\ty'), [
      'a                 b',
      'long-cell-value   c',
      'no tabs here',
      'x         y',
    ]);
    // Printed by Go's text/tabwriter with docker's settings (10, 1, 3, ' ', 0).
    assert.deepEqual(alignTabs('a\tb\tc\nx\ny\tz\n1\t2\t3\t4'), [
      'a         b         c',
      'x',
      'y         z',
      '1         2         3         4',
    ]);
  });
});

describe('formatOutput', () => {
  it('no format (or bare "table") prints the default table', () => {
    const table = renderTable(spec.columns, rows);
    assert.equal(formatOutput(undefined, 'list', rows, spec), table);
    assert.equal(formatOutput('', 'list', rows, spec), table);
    assert.equal(formatOutput('table', 'list', rows, spec), table);
  });

  it('json prints JSON lines for lists, one object per line', () => {
    const out = formatOutput('json', 'list', rows, spec);
    const lines = out.split('\n');
    assert.equal(lines.pop(), '');
    assert.equal(lines.length, 2);
    assert.deepEqual(
      lines.map((l) => JSON.parse(l)),
      rows,
    );
    assert.equal(formatOutput('json', 'list', [], spec), '');
    // docker's list JSON has its keys sorted (its contexts marshal through a map).
    assert.equal(
      lines[0],
      '{"ID":"0123456789ab","Image":"busybox","Names":"web","Ports":"127.0.0.1:8080->80/tcp"}',
    );
    assert.equal(
      formatOutput('json', 'list', [{ b: 1, a: { d: 1, c: 2 } }]),
      '{"a":{"d":1,"c":2},"b":1}\n',
    );
  });

  it('inspect prints an indented JSON array by default and with json', () => {
    const out = formatOutput(undefined, 'inspect', rows);
    assert.deepEqual(JSON.parse(out), rows);
    assert.ok(out.startsWith('[\n    {\n        "ID"'), out.slice(0, 30));
    assert.ok(out.endsWith(']\n'));
    assert.equal(formatOutput('json', 'inspect', rows), out);
    assert.equal(formatOutput(undefined, 'inspect', []), '[]\n');
  });

  it('a template prints one line per row', () => {
    assert.equal(formatOutput('{{.Names}}', 'list', rows, spec), 'web\ndb\n');
    assert.equal(
      formatOutput('{{.ID}}: {{.Image}}', 'inspect', rows),
      '0123456789ab: busybox\nba9876543210: registry.local/httpd:1\n',
    );
    assert.equal(formatOutput('{{json .}}', 'list', [{ a: 1 }]), '{"a":1}\n');
    assert.equal(formatOutput('  {{.Names}}  ', 'list', rows, spec), 'web\ndb\n');
    assert.equal(formatOutput('{{.Names}}', 'list', [], spec), '');
  });

  it('table <template> makes a table with headers from the header map', () => {
    const out = formatOutput('table {{.ID}}\\t{{.Names}}\\t{{.Image | upper}}', 'list', rows, spec);
    assert.equal(
      out,
      [
        'CONTAINER ID   NAMES     IMAGE',
        '0123456789ab   web       BUSYBOX',
        'ba9876543210   db        REGISTRY.LOCAL/HTTPD:1',
        '',
      ].join('\n'),
    );
    assert.equal(formatOutput('table {{.Names}}', 'list', [], spec), 'NAMES\n');
  });

  it('fails on unknown fields naming them, as invalidArgument', () => {
    assert.throws(
      () => formatOutput('{{.Nmes}}', 'list', rows, spec),
      (err: Error) => isInvalidArgument(err) && err.message === 'template: unknown field "Nmes"',
    );
    assert.throws(
      () => formatOutput('table {{.Nmes}}', 'list', rows, spec),
      /unknown field "Nmes"/,
    );
  });
});
