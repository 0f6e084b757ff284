// `npm run schemas`: writes each user-facing config's JSON Schema to docs/schemas/<name>.schema.json
// and regenerates the config-key tables in the docs (between `<!-- schema:NAME -->` and
// `<!-- /schema:NAME -->`), all from the zod schemas that declare the configs. The tables are
// generated rather than checked against hand-written ones so that keys, bounds, defaults and
// descriptions have one source; test/unit/schemas.test.ts fails when a committed file is stale.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { z } from 'zod';
import { searchConfigSchema } from '../src/evolve/search_config.js';
import { serveConfigSchema } from '../src/serve/serve_config.js';
import { taskConfigSchema } from '../src/tasks/task_config.js';
import { pretrainConfigSchema } from '../src/train/pretrain_config.js';
import { trainConfigSchema } from '../src/train/train_config.js';
import { writeFileAtomic } from '../src/util/atomic.js';
import { jsonSchemaOf, phrase } from '../src/util/schema.js';

type Json = Record<string, unknown>;

export interface ConfigDoc {
  /** docs/schemas/<name>.schema.json, and the <!-- schema:<name> --> section. */
  name: string;
  title: string;
  schema: z.ZodType;
  /** How a key is written in the table (add-task's settings are flags). */
  key?: (dotted: string) => string;
}

export const CONFIGS: ConfigDoc[] = [
  { name: 'train', title: '`pathwise train --config FILE`', schema: trainConfigSchema },
  { name: 'pretrain', title: '`pathwise pretrain --config FILE`', schema: pretrainConfigSchema },
  { name: 'task', title: 'a task config (`pathwise add-task --task FILE`, or an entry of `tasks` in `pathwise train`)', schema: taskConfigSchema },
  {
    name: 'search',
    title: '`pathwise add-task` flags (the search config)',
    schema: searchConfigSchema,
    key: (k) => `--${k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`,
  },
  {
    name: 'serve',
    title: '`pathwise serve` flags (or the keys of a serve config file, `--config FILE`)',
    schema: serveConfigSchema,
    key: (k) => `--${k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`,
  },
];

/** Which docs hold which tables. */
export const DOC_SECTIONS: Record<string, string[]> = {
  'docs/multitask.md': ['train', 'task'],
  'docs/pretraining.md': ['pretrain'],
  'docs/continual.md': ['search'],
  'docs/serve.md': ['serve'],
};

const ROOT = join(fileURLToPath(import.meta.url), '..', '..', '..');

/** The published JSON Schema: the input side (what a user writes; keys with defaults optional). */
export function jsonSchemaText(c: ConfigDoc): string {
  const { $schema, ...rest } = jsonSchemaOf(c.schema);
  return JSON.stringify({ $schema, title: c.title.replace(/`/g, ''), ...rest }, null, 2) + '\n';
}

function objectOf(node: Json): Json | null {
  const options = (node.anyOf as Json[] | undefined) ?? [node];
  return options.find((o) => o.properties || isMap(o)) ?? null;
}

function isMap(node: Json): boolean {
  return !node.properties && typeof node.additionalProperties === 'object' && (node.additionalProperties as Json).properties !== undefined;
}

const cell = (s: string) => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');

/** One row per key: objects as their keys (and a row of their own when null is allowed), maps as <name>. */
export function keyTable(c: ConfigDoc): string {
  const rows: string[] = ['| key | takes | default | what |', '|---|---|---|---|'];
  const keyOf = c.key ?? ((k: string) => k);
  const walk = (node: Json, prefix: string, required: string[]) => {
    for (const [k, child] of Object.entries(node.properties as Record<string, Json>)) {
      const dotted = prefix + k;
      const obj = objectOf(child);
      const nullable = Array.isArray(child.anyOf) && (child.anyOf as Json[]).some((o) => o.type === 'null');
      if (!obj || nullable || child.description) {
        const takes = obj && !nullable ? 'an object' : phrase(child);
        const dflt =
          'default' in child && !(obj && !nullable) ? `\`${JSON.stringify(child.default)}\`` : required.includes(k) ? 'required' : obj ? '' : '(none)';
        rows.push(`| \`${keyOf(dotted)}\` | ${cell(takes)} | ${cell(dflt)} | ${cell((child.description as string | undefined) ?? '')} |`);
      }
      if (!obj) continue;
      if (isMap(obj)) {
        const value = obj.additionalProperties as Json;
        walk(value, `${dotted}.<name>.`, (value.required as string[] | undefined) ?? []);
      } else walk(obj, `${dotted}.`, (obj.required as string[] | undefined) ?? []);
    }
  };
  const root = jsonSchemaOf(c.schema);
  walk(root, '', (root.required as string[] | undefined) ?? []);
  return rows.join('\n') + '\n';
}

/** `text` with every generated section replaced by its table. */
export function withTables(text: string, names: string[], file: string): string {
  let out = text;
  for (const name of names) {
    const c = CONFIGS.find((x) => x.name === name)!;
    const open = `<!-- schema:${name} (generated by npm run schemas from the zod schema; edit the schema, not this table) -->\n`;
    const close = `<!-- /schema:${name} -->`;
    const start = out.indexOf(open);
    const end = out.indexOf(close);
    if (start < 0 || end < start) throw new Error(`${file}: no section ${JSON.stringify(open.trim())} ... ${JSON.stringify(close)}`);
    out = out.slice(0, start + open.length) + keyTable(c) + out.slice(end);
  }
  return out;
}

/** Every generated file: path (from the repository root) -> content. */
export function generatedFiles(root = ROOT): Record<string, string> {
  const files: Record<string, string> = {};
  for (const c of CONFIGS) files[`docs/schemas/${c.name}.schema.json`] = jsonSchemaText(c);
  for (const [doc, names] of Object.entries(DOC_SECTIONS)) files[doc] = withTables(readFileSync(join(root, doc), 'utf8'), names, doc);
  return files;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  for (const [path, text] of Object.entries(generatedFiles())) {
    const full = join(ROOT, path);
    let old: string | null = null;
    try {
      old = readFileSync(full, 'utf8');
    } catch {
      // a new file
    }
    if (old === text) continue;
    writeFileAtomic(full, text);
    process.stdout.write(`wrote ${path}\n`);
  }
}
