import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { atoi, parseGroup, parsePasswd, toUint32 } from './passwd.js';

describe('passwd and group files', () => {
  it('parses passwd lines as moby/sys/user: blanks skipped, bad numbers 0, no comments', () => {
    assert.deepEqual(
      parsePasswd('root:x:0:0:root:/root:/bin/sh\n\n  \r\napp:x:1x:+5\n#c:x:7:7\r\n'),
      [
        { name: 'root', uid: 0, gid: 0, home: '/root', shell: '/bin/sh' },
        { name: 'app', uid: 0, gid: 5, home: '', shell: '' },
        { name: '#c', uid: 7, gid: 7, home: '', shell: '' },
      ],
    );
  });

  it('parses group lines: comments skipped, members split on commas', () => {
    assert.deepEqual(parseGroup('# c\nwheel:x:10:root,app\nnone:x:11:\nshort:x\n'), [
      { name: 'wheel', gid: 10, members: ['root', 'app'] },
      { name: 'none', gid: 11, members: [] },
      { name: 'short', gid: 0, members: [] },
    ]);
  });

  it("atoi is Go's strconv.Atoi; toUint32 wraps as Go's conversion", () => {
    assert.equal(atoi('42'), 42);
    assert.equal(atoi('+7'), 7);
    assert.equal(atoi('-1'), -1);
    assert.equal(atoi(''), undefined);
    assert.equal(atoi('1.0'), undefined);
    assert.equal(atoi(' 1'), undefined);
    assert.equal(atoi('99999999999999999999'), undefined);
    assert.equal(toUint32(-1), 0xffff_ffff);
    assert.equal(toUint32(2 ** 32 + 5), 5);
  });
});
