import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isInvalidArgument } from '../../core/errdefs/index.js';
import { compileTemplate } from './template.js';

const row = {
  ID: 'abc123',
  Names: 'web',
  Image: 'busybox:latest',
  Labels: { 'com.example.a': '1', b: '2' },
  Ports: ['80/tcp', '443/tcp'],
  Empty: [] as string[],
  Count: 3,
  Zero: 0,
  Ratio: 0.5,
  Running: true,
  Nil: null,
  State: { Status: 'running', Pid: 42, Health: { Status: 'healthy' } },
  Mounts: [{ Source: '/a' }, { Source: '/b' }],
  Label(name: string): string {
    return this.Labels[name as keyof typeof this.Labels] ?? '';
  },
};

function run(src: string, data: unknown = row): string {
  return compileTemplate(src)(data);
}

function fails(src: string, message: string | RegExp, data: unknown = row): void {
  assert.throws(
    () => run(src, data),
    (err: Error) => {
      assert.ok(isInvalidArgument(err), `${err} is invalidArgument`);
      if (typeof message === 'string') assert.equal(err.message, message);
      else assert.match(err.message, message);
      return true;
    },
  );
}

describe('compileTemplate', () => {
  it('prints fields, nested fields and text around them', () => {
    assert.equal(run('{{.ID}}'), 'abc123');
    assert.equal(run('id={{.ID}} name={{.Names}}'), 'id=abc123 name=web');
    assert.equal(run('{{.State.Status}}/{{.State.Health.Status}}'), 'running/healthy');
    assert.equal(run('{{.State.Pid}}'), '42');
    assert.equal(run('plain text'), 'plain text');
    assert.equal(run(''), '');
  });

  it('prints values as Go does: lists, maps, numbers, booleans, nil', () => {
    assert.equal(run('{{.Ports}}'), '[80/tcp 443/tcp]');
    assert.equal(run('{{.Labels}}'), 'map[b:2 com.example.a:1]');
    assert.equal(run('{{.Ratio}}'), '0.5');
    assert.equal(run('{{.Running}}'), 'true');
    assert.equal(run('{{.Nil}}'), '<nil>');
    assert.equal(run('{{.}}', 'x'), 'x');
    assert.equal(run('{{.Big}}', { Big: 1e8 }), '100000000');
    assert.equal(run('{{.F}}', { F: 1234567.5 }), '1.2345675e+06');
  });

  it('json of the row and of a field', () => {
    assert.equal(run('{{json .Labels}}'), '{"com.example.a":"1","b":"2"}');
    assert.equal(run('{{json .Names}}'), '"web"');
    assert.equal(run('{{json .Nil}}'), 'null');
    assert.equal(run('{{json .}}', { a: 1, b: '<x>' }), '{"a":1,"b":"<x>"}');
    // A Map is a Go map: its keys sorted, as Go's encoder writes them.
    assert.equal(
      run('{{json .M}}', {
        M: new Map<string, unknown>([
          ['z', 1],
          ['a', [2]],
        ]),
      }),
      '{"a":[2],"z":1}',
    );
  });

  it('index, join, split, upper, lower, title, pad, truncate, len', () => {
    assert.equal(run('{{index .Labels "com.example.a"}}'), '1');
    assert.equal(run('{{index .Labels "missing"}}'), '');
    assert.equal(run('{{index .Ports 1}}'), '443/tcp');
    assert.equal(run('{{join .Ports ", "}}'), '80/tcp, 443/tcp');
    assert.equal(run('{{join .Labels ","}}'), '1,2');
    assert.equal(run('{{join (split "a:b:c" ":") "-"}}'), 'a-b-c');
    assert.equal(
      run('{{upper .Names}} {{lower "ABC"}} {{title "hello big world"}}'),
      'WEB abc Hello Big World',
    );
    assert.equal(run('[{{pad .Names 1 2}}]'), '[ web  ]');
    // strings.Title treats any ASCII punctuation as a word break.
    assert.equal(run('{{title "don\'t stop-me now_x"}}'), "Don'T Stop-Me Now_x");
    assert.equal(run('{{truncate .ID 3}}'), 'abc');
    assert.equal(run('{{len .Ports}} {{len .Names}} {{len .Labels}}'), '2 3 2');
  });

  it('printf with %s %d %v %q, widths and Go markers for mismatches', () => {
    assert.equal(run('{{printf "%s has %d ports" .Names 2}}'), 'web has 2 ports');
    assert.equal(run('{{printf "%v|%v" .Ports .Count}}'), '[80/tcp 443/tcp]|3');
    assert.equal(run('{{printf "%q" .Names}}'), '"web"');
    assert.equal(run('{{printf "%q" "a\\"b\\tc"}}'), '"a\\"b\\tc"');
    assert.equal(run('{{printf "%-6s|%4d|%04d" .Names .Count .Count}}'), 'web   |   3|0003');
    assert.equal(run('{{printf "%.2f%%" .Ratio}}'), '0.50%');
    assert.equal(run('{{printf "%d" .Names}}'), '%!d(string=web)');
    assert.equal(run('{{printf "%s %s" .Names}}'), 'web %!s(MISSING)');
    assert.equal(run('{{printf "%s" .Names 1}}'), 'web%!(EXTRA int=1)');
  });

  // Expected values below were printed by Go 1.19's text/template and fmt.
  it('matches Go for print, println, %e %x %X %t, flags and precision, %q escapes', () => {
    assert.equal(run('{{print 1 2 "x" 3}}'), '1 2x3');
    assert.equal(run('{{println .Names 1}}'), 'web 1\n');
    assert.equal(
      run('{{printf "%5.1f|%e|%x|%X|%t" .Ratio .Ratio 255 "hi" .Running}}'),
      '  0.5|5.000000e-01|ff|6869|true',
    );
    assert.equal(run('{{printf "%+d|% d|%8.3s|" 5 5 "abcdef"}}'), '+5| 5|     abc|');
    assert.equal(run('{{printf "%q" "a\\"b\\tc\\u0001é"}}'), '"a\\"b\\tc\\x01é"');
    assert.equal(
      run('{{.State}}', { State: { Status: 'running', Pid: 42 } }),
      'map[Pid:42 Status:running]',
    );
  });

  it('pipes pass the value as the last argument', () => {
    assert.equal(run('{{.Names | upper}}'), 'WEB');
    assert.equal(run('{{.Names | printf "%s-%s" .ID}}'), 'abc123-web');
    assert.equal(run('{{join .Ports "," | upper}}'), '80/TCP,443/TCP');
    // As in Go, the piped value is the last argument: join's separator here.
    fails('{{.Ports | join ","}}', /join: expected a string, got a list/);
    assert.equal(run('{{(index .Labels "b") | printf "<%s>"}}'), '<2>');
    assert.equal(run('{{(index .Mounts 1).Source}}'), '/b');
  });

  it('if / else if / else with Go truth', () => {
    assert.equal(run('{{if .Running}}up{{else}}down{{end}}'), 'up');
    assert.equal(run('{{if .Zero}}yes{{else}}no{{end}}'), 'no');
    assert.equal(run('{{if .Empty}}yes{{else}}no{{end}}'), 'no');
    assert.equal(run('{{if .Nil}}yes{{end}}'), '');
    assert.equal(
      run('{{if eq .Names "db"}}db{{else if eq .Names "web"}}web{{else}}other{{end}}'),
      'web',
    );
    assert.equal(run('{{if and .Running (gt .Count 2)}}busy{{end}}'), 'busy');
    assert.equal(run('{{if or .Zero .Empty}}x{{else}}y{{end}}'), 'y');
    assert.equal(run('{{if not .Zero}}z{{end}}'), 'z');
    assert.equal(run('{{if ne .Names "web"}}a{{else}}b{{end}}'), 'b');
    assert.equal(run('{{if eq .Count 1 2 3}}in{{end}}'), 'in');
  });

  it('range rebinds the dot; $ is the row; else runs on empty lists', () => {
    assert.equal(run('{{range .Ports}}[{{.}}]{{end}}'), '[80/tcp][443/tcp]');
    assert.equal(run('{{range .Mounts}}{{.Source}} {{end}}'), '/a /b ');
    assert.equal(run('{{range .Ports}}{{$.Names}}:{{.}} {{end}}'), 'web:80/tcp web:443/tcp ');
    assert.equal(run('{{range .Empty}}x{{else}}none{{end}}'), 'none');
    assert.equal(run('{{range .Labels}}{{.}};{{end}}'), '2;1;');
    assert.equal(run('{{with .State}}{{.Status}}{{end}}'), 'running');
    assert.equal(run('{{with .Empty}}x{{else}}empty{{end}}'), 'empty');
  });

  it('turns \\t and \\n in the source into a tab and a newline, as docker does', () => {
    assert.equal(run('{{.ID}}\\t{{.Names}}\\n'), 'abc123\tweb\n');
  });

  it('trims around {{- and -}} and skips comments', () => {
    assert.equal(run('a  {{- .Names -}}  b'), 'awebb');
    assert.equal(run('a {{/* note */}}b'), 'a b');
  });

  it('calls function fields with arguments, as docker methods ({{.Label "k"}})', () => {
    assert.equal(run('{{.Label "b"}}'), '2');
  });

  it('a Map missing a key prints <no value>, as Go maps do', () => {
    assert.equal(run('{{.M.x}}|{{.M.y}}', { M: new Map([['x', 'X']]) }), 'X|<no value>');
  });

  it('names unknown fields and functions', () => {
    fails('{{.Nmes}}', 'template: unknown field "Nmes"');
    fails('{{.State.Stauts}}', 'template: unknown field "Stauts"');
    fails('{{range .Mounts}}{{.Src}}{{end}}', 'template: unknown field "Src"');
    fails('{{foo .ID}}', 'template: unknown function "foo"');
    fails('{{.Names | shout}}', 'template: unknown function "shout"');
  });

  it('reports syntax and evaluation errors as invalidArgument', () => {
    fails('{{.ID', 'template: unclosed action');
    fails('{{if .ID}}x', /unexpected EOF/);
    fails('{{end}}', 'template: unexpected {{end}}');
    fails('{{else}}', 'template: unexpected {{else}}');
    fails('{{printf "%s" "x}}', /unterminated quoted string/);
    fails('{{index .Ports 5}}', 'template: index out of range: 5');
    fails('{{.Names.First}}', /can't evaluate field "First"/);
    fails('{{upper .Count}}', /upper: expected a string/);
    fails('{{join .Names ","}}', /join: expected a list/);
    fails('{{$x := .ID}}', /variable/);
    fails('{{template "x"}}', /not supported/);
    fails('{{lt .Names 1}}', /incompatible types/);
    fails('{{"x" .ID}}', /can't give argument to non-function/);
    fails('{{(.ID}}', /unclosed left paren/);
  });

  it('compile errors are thrown at compile time, before any row', () => {
    assert.throws(() => compileTemplate('{{nope}}'), /unknown function "nope"/);
  });
});

describe('Template.header (docker table headers)', () => {
  const headers = { ID: 'CONTAINER ID', Names: 'NAMES', Image: 'IMAGE' };
  it('maps fields through the header map, unknown ones to their upper-cased name', () => {
    assert.equal(
      compileTemplate('{{.ID}}\\t{{.Image}}\\t{{.Foo}}').header(headers),
      'CONTAINER ID\tIMAGE\tFOO',
    );
  });
  it('keeps headers intact through docker header functions', () => {
    assert.equal(
      compileTemplate('{{.Names | upper}}|{{json .ID}}|{{lower .Image}}').header(headers),
      'NAMES|CONTAINER ID|IMAGE',
    );
    assert.equal(compileTemplate('{{truncate .ID 3}}').header(headers), 'CONTAINER ID');
  });
  it('shows a label name for .Label and index', () => {
    assert.equal(compileTemplate('{{.Label "com.example.app-name"}}').header(headers), 'app name');
    assert.equal(compileTemplate('{{index .Labels "k"}}').header(headers), 'k');
  });
});
