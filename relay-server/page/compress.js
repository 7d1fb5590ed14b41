// Writes brotli and gzip copies of the page's built scripts (relay-server/page/dist) beside them,
// which relay-server sends to browsers that accept them. Run after `tsc -b` (`npm run build`
// and `npm ci` do both).
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { brotliCompressSync, constants, gzipSync } from 'node:zlib';

const dist = fileURLToPath(new URL('./dist/', import.meta.url));

function scripts(dir) {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return scripts(path);
    return name.endsWith('.js') ? [path] : [];
  });
}

let raw = 0;
let brotli = 0;
for (const path of scripts(dist)) {
  const source = readFileSync(path);
  const br = brotliCompressSync(source, { params: { [constants.BROTLI_PARAM_QUALITY]: 11, [constants.BROTLI_PARAM_SIZE_HINT]: source.length } });
  writeFileSync(`${path}.br`, br);
  writeFileSync(`${path}.gz`, gzipSync(source, { level: 9 }));
  raw += source.length;
  brotli += br.length;
}
console.log(`page scripts: ${raw} bytes, ${brotli} bytes with brotli`);
