import type { CliContext } from '../context.js';

/** docker's prompt: the question and ` [y/N] ` on stdout, one line read from stdin; yes only for y/yes. */
export async function confirm(ctx: CliContext, question: string): Promise<boolean> {
  ctx.out(`${question} [y/N] `);
  const line = await readLine(ctx.io.stdin);
  return /^(y|yes)$/i.test(line.trim());
}

function readLine(stdin: NodeJS.ReadableStream): Promise<string> {
  return new Promise((resolve) => {
    let buf = '';
    const done = () => {
      stdin.off('data', onData);
      stdin.off('end', done);
      stdin.pause();
      resolve(buf);
    };
    const onData = (b: Buffer | string) => {
      buf += b.toString();
      const nl = buf.indexOf('\n');
      if (nl >= 0) {
        buf = buf.slice(0, nl);
        done();
      }
    };
    stdin.on('data', onData);
    stdin.on('end', done);
    stdin.resume();
  });
}
