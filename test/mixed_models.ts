// Models built in code in every layout a model folder can hold (random weights: their predictions
// are arbitrary but fixed), and inputs of all their tasks: what the mixed-batch, shared-model and
// inference-thread tests run. Pre-LN dense with paths of different depth, cloned blocks,
// adapters and low-rank updates; post-LN (BERT's, no final norm); SkillNet skill blocks; a dropless Switch layer.

import { Rng } from '../src/engine/index.js';
import { DEFAULT_ENCODER, TransformerEncoder, type EncoderConfig } from '../src/nn/index.js';
import { DEFAULT_SWITCH, sparseFfnFactory, type SparseConfig } from '../src/sparse/index.js';
import { Tokenizer } from '../src/data/tokenizer/index.js';
import { TaskModel, defaultHParams, type MixedRequest, type Path, type TaskSpec } from '../src/model/index.js';
import { NaiveBayesPrior } from '../src/tasks/naive_bayes_prior.js';
import type { Example } from '../src/tasks/task.js';

const WORDS = 'the a film was good bad lovely awful story plot actor music long short fun dull great poor ending scene and of it'.split(' ');
const rng = new Rng(11);
const sentence = (n: number) => Array.from({ length: n }, () => WORDS[Math.floor(rng.uniform() * WORDS.length)]).join(' ');
const tok = Tokenizer.train(
  Array.from({ length: 200 }, (_, i) => sentence(3 + (i % 17))),
  { vocabSize: 300 },
);

const SPECS: TaskSpec[] = [
  { name: 'cls', type: 'classification', labels: ['neg', 'pos', 'mixed'], pooling: 'mean' },
  { name: 'clsCls', type: 'classification', labels: ['a', 'b'], pooling: 'cls' },
  { name: 'pair', type: 'pair_classification', labels: ['same', 'different'], pooling: 'mean' },
  { name: 'tag', type: 'tagging', labels: ['O', 'B-X', 'I-X', 'B-Y', 'I-Y'] },
  { name: 'reg', type: 'regression', labels: [], pooling: 'mean' },
  // Heads with a hashed n-gram bag beside the encoder (few buckets: collisions on purpose).
  { name: 'lex', type: 'classification', labels: ['u', 'v', 'w'], pooling: 'mean', lexical: { buckets: 97, dim: 5, ngrams: 2 } },
  { name: 'lexPair', type: 'pair_classification', labels: ['s', 'd'], pooling: 'cls', lexical: { buckets: 31, dim: 3, ngrams: 1 } },
];

/** A model of the layout with one task per spec on the root, plus grown paths (dense layouts only). */
export function build(o: { cfg?: Partial<EncoderConfig>; sparse?: SparseConfig; grow?: boolean }): TaskModel {
  const r = new Rng(3);
  const sparse: SparseConfig = o.sparse ?? { switch: null, skills: null };
  const cfg = { ...DEFAULT_ENCODER, vocabSize: tok.vocabSize, maxPositions: 40, dModel: 16, layers: 3, heads: 2, ffn: 32, initStd: 0.2, ...o.cfg };
  const model = TaskModel.fromEncoder(new TransformerEncoder(cfg, r, sparseFfnFactory(cfg, sparse, r)), tok, { sparse, rng: r, maxLen: 24 });
  for (const s of SPECS) model.addTask(s);
  for (const s of SPECS) {
    const head = model.store.get(model.tasks.get(s.name)!.path.head, 'head').module;
    // A bag's output layer starts at zero; give it weights so that the bag changes the logits.
    const out = head.bagOut;
    if (out) for (let i = 0; i < out.weight.size; i++) out.weight.f32[i] = (r.uniform() - 0.5) * 2;
    // The lexical heads also get a Naive Bayes prior, counted on a few labelled sentences.
    if (s.lexical) {
      const counted = Array.from({ length: 30 }, (_, i) => ({
        text: sentence(2 + (i % 7)),
        ...(s.type === 'pair_classification' ? { textPair: sentence(3) } : {}),
        label: s.labels[i % s.labels.length],
      }));
      head.setPrior(NaiveBayesPrior.count(counted, s.labels, { buckets: 53 }).withWeight(0.7));
    }
  }
  if (o.grow) {
    const { store, root } = model;
    const head = (spec: TaskSpec) =>
      store.create(
        'head',
        { type: spec.type, dModel: cfg.dModel, classes: Math.max(1, spec.labels.length), dropout: 0.1, initStd: 0.2, pooling: spec.pooling ?? 'cls' },
        spec.name,
        r,
      ).id;
    const adapter = (task: string) => store.create('adapter', { dModel: cfg.dModel, size: 4, layerNormEps: 1e-5, initStd: 0.2 }, task, r).id;
    const randomise = (id: string) => {
      // A fresh adapter is the identity; give it weights so that it changes something.
      for (const [, p] of store.get(id).module.namedParameters()) for (let i = 0; i < p.size; i++) p.f32[i] = (r.uniform() - 0.5) * 0.4;
    };
    const path = (task: string, blocks: string[], adapters: (string | null)[]): Omit<Path, 'head'> => ({
      task,
      embeddings: root.embeddings,
      blocks,
      adapters,
      finalNorm: root.finalNorm,
      hparams: { ...defaultHParams(root.blocks.length), layers: blocks.length },
    });
    // Shallow: the first root block only. Deep: the root's first two blocks, then a clone of its
    // last, with an adapter before the clone. Cloned: the middle block cloned, an adapter before
    // the first. (Every path a folder can hold: none is deeper than the root.)
    const shallow: TaskSpec = { name: 'shallow', type: 'classification', labels: ['x', 'y'], pooling: 'mean' };
    model.addTaskPath(shallow, null, { ...path('shallow', [root.blocks[0]], [null]), head: head(shallow) });
    const deepSpec: TaskSpec = { name: 'deep', type: 'tagging', labels: ['O', 'B-Z', 'I-Z'] };
    const extra = store.clone(root.blocks[2], 'deep', r).id;
    const ad = adapter('deep');
    randomise(ad);
    model.addTaskPath(deepSpec, null, { ...path('deep', [root.blocks[0], root.blocks[1], extra], [null, null, ad]), head: head(deepSpec) });
    const clonedSpec: TaskSpec = { name: 'cloned', type: 'classification', labels: ['p', 'q', 'r'], pooling: 'cls' };
    const mid = store.clone(root.blocks[1], 'cloned', r).id;
    for (const [, p] of store.get(mid).module.namedParameters()) for (let i = 0; i < p.size; i++) p.f32[i] += (r.uniform() - 0.5) * 0.1;
    const ad0 = adapter('cloned');
    randomise(ad0);
    model.addTaskPath(clonedSpec, null, { ...path('cloned', [root.blocks[0], mid, root.blocks[2]], [ad0, null, null]), head: head(clonedSpec) });
    // Low-rank: the root's three blocks, the first and the last with a low-rank update of their
    // own (nn/lora.ts; B is zero at init, so both factors are randomised), none on the middle one,
    // and an update of the word embeddings (nn/embedding_lora.ts; A is zero at init, randomised).
    const lowSpec: TaskSpec = { name: 'lowrank', type: 'classification', labels: ['u', 'v', 'w'], pooling: 'mean' };
    const lora = () => {
      const id = store.create('lora', { dModel: cfg.dModel, ffn: cfg.ffn, rank: 2 }, 'lowrank', r).id;
      randomise(id);
      return id;
    };
    const loras = [lora(), null, lora()];
    const lowHead = head(lowSpec);
    // Drawn last, so that everything before it is what it was before the update existed.
    const words = store.create('embedding_lora', { vocabSize: cfg.vocabSize, dModel: cfg.dModel, rank: 2 }, 'lowrank', r).id;
    randomise(words);
    model.addTaskPath(lowSpec, null, { ...path('lowrank', [...root.blocks], [null, null, null]), embeddingLora: words, loras, head: lowHead });
  }
  model.lockTasks();
  return model.eval();
}

/** Inputs of every task of the model, of varied lengths, interleaved. */
export function requests(model: TaskModel, perTask: number): MixedRequest[] {
  const out: MixedRequest[] = [];
  for (let i = 0; i < perTask; i++) {
    for (const { spec } of model.tasks.values()) {
      const n = 1 + ((i * 7 + spec.name.length) % 30); // some past maxLen: truncated
      let input: string | Example = sentence(n);
      if (spec.type === 'pair_classification') input = { text: sentence(n), textPair: sentence(1 + (i % 5)) };
      else if (spec.type === 'tagging' && i % 2) input = { text: '', words: sentence(n).split(' ') };
      if (spec.type === 'tagging' && typeof input !== 'string') input.text = input.words!.join(' ');
      out.push({ task: spec.name, input });
    }
  }
  return out;
}

/** What each task's own predict answers for each request, in request order. */
export async function oneByOne(model: TaskModel, reqs: readonly MixedRequest[]) {
  const out = new Array(reqs.length);
  for (const task of model.tasks.keys()) {
    const idx = [...reqs.keys()].filter((i) => reqs[i].task === task);
    const preds = await model.predict(
      task,
      idx.map((i) => reqs[i].input),
    );
    idx.forEach((i, k) => (out[i] = preds[k]));
  }
  return out;
}

export const LAYOUTS: [string, Parameters<typeof build>[0]][] = [
  ['pre-LN dense, with shallow, deep, cloned, adapter and low-rank paths', { grow: true }],
  ['post-LN (BERT layout: no final norm), with grown paths', { cfg: { normPlacement: 'post' }, grow: true }],
  [
    'SkillNet skill blocks',
    {
      sparse: {
        switch: null,
        skills: {
          skills: ['general', 'sentence', 'token'],
          generic: 'general',
          table: { cls: ['sentence'], tag: ['token', 'general'], reg: ['general', 'sentence'] },
          layers: [1, 2],
        },
      },
    },
  ],
  ['dropless Switch layers', { sparse: { switch: { ...DEFAULT_SWITCH, experts: 4, every: 1, jitter: 0, evalCapacityFactor: null }, skills: null } }],
];
