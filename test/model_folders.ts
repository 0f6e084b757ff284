// Tiny model folders of every kind, written by the code that writes real ones: what the loader
// tests (test/unit/folder_checks.test.ts) and the loaders' fuzz test (test/unit/fuzz_model.test.ts)
// start from.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Rng } from '../src/engine/index.js';
import { DEFAULT_ENCODER, LanguageModel, TransformerEncoder } from '../src/nn/index.js';
import { DEFAULT_SPARSE_SWITCH, sparseFfnFactory, type SparseConfig } from '../src/sparse/index.js';
import { Tokenizer } from '../src/data/tokenizer/index.js';
import { FOLDER_FORMAT, TaskModel, headConfigFor, saveModel, saveModuleFolder, type TaskSpec } from '../src/model/index.js';
import { ROOT } from './helpers.js';

export const DENSE: SparseConfig = { switch: null, skills: null };
export const SWITCH: SparseConfig = { switch: { ...DEFAULT_SPARSE_SWITCH, experts: 2, every: 2 }, skills: null };
export const TEXTS = [
  'the film was good and the music was lovely',
  'a bad plot, a dull ending and poor actors',
  'Ada Lovelace lived in London',
  'short scenes, long story, great fun',
  'nothing happens; the actor is awful',
  'Ünïcödé text — with dashes and “quotes”',
];

export type Kind = 'base' | 'encoder' | 'components' | 'bert';
export interface Folder {
  kind: Kind;
  dir: string;
  /** The folder's files, by name. */
  files: Record<string, Buffer>;
}

const read = (dir: string, names = ['config.json', 'model.safetensors', 'tokenizer.json']) =>
  Object.fromEntries(names.map((f) => [f, readFileSync(join(dir, f))])) as Record<string, Buffer>;

/**
 * Writes under `work`: "base", a pretrained encoder and its LM head (what pathwise pretrain
 * writes); "encoder", a classification and a tagging head on one encoder (pathwise train);
 * "components", a Switch block at layer 1 and a pair task whose path has an adapter and a head of
 * its own (pathwise add-task); and the BERT fixture (no tokenizer.json). dModel 8, 2 layers.
 */
export function writeModelFolders(work: string): Folder[] {
  const tok = Tokenizer.train(TEXTS, { vocabSize: 300 });
  const cfg = { ...DEFAULT_ENCODER, vocabSize: tok.vocabSize, maxPositions: 24, dModel: 8, layers: 2, heads: 2, ffn: 16 };
  const rng = new Rng(1);

  const base = join(work, 'base');
  const config = { model_type: 'pathwise', architectures: ['LanguageModel'], format: FOLDER_FORMAT, ...cfg, sparse: DENSE };
  saveModuleFolder(base, new LanguageModel(cfg, rng), { config, tokenizerJson: tok.toJsonString() });

  const sent: TaskSpec = { name: 'sent', type: 'classification', labels: ['neg', 'pos'], pooling: 'mean', lexical: { buckets: 13, dim: 3, ngrams: 2 } };
  const ner: TaskSpec = { name: 'ner', type: 'tagging', labels: ['O', 'B-PER', 'I-PER'] };
  const encoder = join(work, 'encoder');
  const enc = TaskModel.fromEncoder(new TransformerEncoder(cfg, rng), tok, { sparse: DENSE, rng, maxLen: 24 });
  enc.addTask(sent, { source: { builtin: 'sent' } });
  enc.addTask(ner);
  enc.lockTasks();
  saveModel(encoder, enc);

  const components = join(work, 'components');
  const grown = TaskModel.fromEncoder(new TransformerEncoder(cfg, rng, sparseFfnFactory(cfg, SWITCH, rng)), tok, { sparse: SWITCH, rng, maxLen: 24 });
  grown.addTask(sent);
  const pair: TaskSpec = { name: 'pair', type: 'pair_classification', labels: ['same', 'other', 'neither'], pooling: 'cls' };
  const adapter = grown.store.create('adapter', { dModel: cfg.dModel, size: 4, layerNormEps: 1e-5, initStd: 0.02 }, 'pair', rng);
  const head = grown.store.create('head', headConfigFor(pair, cfg), 'pair', rng);
  grown.addTaskPath(pair, null, { ...grown.rootPath('pair'), adapters: [adapter.id, null], head: head.id });
  grown.lockTasks();
  saveModel(components, grown);

  const bert = join(ROOT, 'test', 'fixtures', 'bert');
  return [
    { kind: 'base', dir: base, files: read(base) },
    { kind: 'encoder', dir: encoder, files: read(encoder) },
    { kind: 'components', dir: components, files: read(components) },
    { kind: 'bert', dir: bert, files: read(bert, ['config.json', 'model.safetensors']) },
  ];
}
