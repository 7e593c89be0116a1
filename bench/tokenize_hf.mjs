// The reference side of bench/tokenize: Hugging Face tokenizers (Rust, through its Node binding)
// configured as bert-base-uncased, timing encodeBatch over Beauty titles repeated to --mb MB.
// Prints one JSON line: {"mb": ..., "seconds": ..., "pieces": ..., "threads": ...}.
//
//   node bench/tokenize_hf.mjs MODULES_DIR VOCAB TITLES_TSV MB
// MODULES_DIR holds node_modules/tokenizers (tests/fixtures/wordpiece after `npm ci`). Run with
// TOKENIZERS_PARALLELISM=false for one thread (bench/tokenize does).
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

const [modules, vocab, titlesPath, mbArg] = process.argv.slice(2);
const t = createRequire(join(resolve(modules), 'package.json'))('tokenizers');

const model = await t.WordPiece.fromFile(vocab, { unkToken: '[UNK]', continuingSubwordPrefix: '##',
                                                  maxInputCharsPerWord: 100 });
const tok = new t.Tokenizer(model);
tok.setNormalizer(t.bertNormalizer({ cleanText: true, handleChineseChars: true, lowercase: true }));
tok.setPreTokenizer(t.bertPreTokenizer());

const titles = readFileSync(titlesPath, 'utf8').split('\n').filter(Boolean).map((l) => l.split('\t')[2] ?? '');
const bytesPerPass = titles.reduce((s, x) => s + Buffer.byteLength(x), 0);
const passes = Math.max(1, Math.ceil((Number(mbArg) * 1e6) / bytesPerPass));

await tok.encodeBatch(titles.slice(0, 1000), { addSpecialTokens: false }); // warm-up
let pieces = 0;
const t0 = performance.now();
for (let p = 0; p < passes; p++) {
  const encs = await tok.encodeBatch(titles, { addSpecialTokens: false });
  if (p === 0) for (const e of encs) pieces += e.getLength();
}
const seconds = (performance.now() - t0) / 1000;
console.log(JSON.stringify({ mb: (passes * bytesPerPass) / 1e6, seconds, pieces,
                             threads: process.env.TOKENIZERS_PARALLELISM === 'false' ? 1 : 'all' }));
