// Rewrites the generated service files in <dir> so that they take
// makeGenericClientConstructor from grpc-js-client.ts (copied beside them),
// which loads @grpc/grpc-js only when a client is made. Fails if a file's
// import of it is not in the shape ts-proto writes, so a ts-proto upgrade that
// changes it is noticed.
import { copyFileSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, sep } from 'node:path';

const dir = process.argv[2];
if (!dir) throw new Error('usage: lazy-clients.mjs <generated dir>');
const helper = 'grpc-js-client.ts';
copyFileSync(join(import.meta.dirname, helper), join(dir, helper));

const IMPORT = /^import \{\n((?: {2}.*,\n)+)\} from "@grpc\/grpc-js";\n/m;
let rewritten = 0;
for (const entry of readdirSync(dir, { recursive: true, withFileTypes: true })) {
  if (!entry.isFile() || !entry.name.endsWith('.ts') || entry.name === helper) continue;
  const file = join(entry.parentPath, entry.name);
  const text = readFileSync(file, 'utf8');
  if (!text.includes('makeGenericClientConstructor(')) continue;
  const m = IMPORT.exec(text);
  const names = m?.[1].split('\n').filter((l) => l !== '');
  if (!m || !names.includes('  makeGenericClientConstructor,')) {
    throw new Error(`${file}: no multi-line grpc-js import of makeGenericClientConstructor`);
  }
  let rel = relative(dirname(file), join(dir, helper.replace(/\.ts$/, '.js')))
    .split(sep)
    .join('/');
  if (!rel.startsWith('.')) rel = `./${rel}`;
  const kept = names.filter((l) => l !== '  makeGenericClientConstructor,');
  const replacement =
    `import {\n${kept.join('\n')}\n} from "@grpc/grpc-js";\n` +
    `import { makeGenericClientConstructor } from "${rel}";\n`;
  writeFileSync(file, text.replace(IMPORT, replacement));
  rewritten++;
}
if (rewritten === 0) throw new Error(`no generated client in ${dir}`);
console.log(`gen-api: ${rewritten} files make their grpc-js clients lazily`);
