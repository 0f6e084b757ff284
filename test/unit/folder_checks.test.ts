// What a model-folder load refuses, and why (issue 15, item 2): the parameter count a config is
// checked against before anything is allocated is exact; a base folder must hold its LM head and
// an encoder folder its heads and tokenizer.json, even for a command (inspect) that reads neither;
// every config of a components folder is checked by its schema; tokenizer ids and segment ids must
// fit the embeddings; weights must be floats in range. Each refusal is an InputError naming the file.

import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Rng, Tensor, readSafetensors, serializeSafetensors } from '../../src/engine/index.js';
import { DEFAULT_ENCODER, LanguageModel, type EncoderConfig } from '../../src/nn/index.js';
import { DEFAULT_SPARSE_SWITCH, sparseFfnFactory, type SparseConfig } from '../../src/sparse/index.js';
import { Tokenizer } from '../../src/data/tokenizer/index.js';
import { buildModule, loadModel, loadPretrained, type ComponentKind } from '../../src/model/index.js';
import { languageModelParameters, parameterCount } from '../../src/model/weights_checks.js';
import { InputError } from '../../src/util/errors.js';
import { writeModelFolders, type Folder } from '../model_folders.js';

describe('model folder checks', () => {
  let work = '';
  let folders: Record<string, Folder> = {};
  before(() => {
    work = mkdtempSync(join(tmpdir(), 'pw-folder-checks-'));
    folders = Object.fromEntries(writeModelFolders(work).map((f) => [f.kind, f]));
  });
  after(() => rmSync(work, { recursive: true, force: true }));

  /** A copy of folder `kind` named `name`, `change` applied to its files. */
  const copy = (kind: string, name: string, change: (dir: string) => void = () => {}) => {
    const dir = join(work, name);
    cpSync(folders[kind].dir, dir, { recursive: true });
    change(dir);
    return dir;
  };
  const editJson = (file: string, edit: (j: Record<string, unknown>) => void) => {
    const j = JSON.parse(readFileSync(file, 'utf8'));
    edit(j);
    writeFileSync(file, JSON.stringify(j));
  };
  const editWeights = (dir: string, edit: (t: Map<string, Tensor>) => void) => {
    const file = join(dir, 'model.safetensors');
    const { tensors, metadata } = readSafetensors(file);
    edit(tensors);
    writeFileSync(file, serializeSafetensors(tensors, metadata));
  };
  /** fn throws an InputError about `file` (a path in the folder) whose message matches `re`. */
  const refuses = (fn: () => unknown, file: string, re: RegExp) =>
    assert.throws(fn, (e: unknown) => {
      assert.ok(e instanceof InputError, String(e));
      assert.equal(e.file, file, e.message);
      assert.match(e.message, re);
      return true;
    });

  it("counts a config's parameters exactly, for every component kind and layout, before building anything", () => {
    const enc: EncoderConfig = { ...DEFAULT_ENCODER, vocabSize: 50, maxPositions: 12, typeVocabSize: 3, dModel: 8, heads: 2, ffn: 12, layers: 3 };
    const skills = ['a', 'b', 'c'];
    const sw = { ...DEFAULT_SPARSE_SWITCH, experts: 4 };
    const configs: [ComponentKind, object][] = [
      ['embeddings', enc],
      ['embeddings', { ...enc, normPlacement: 'post' }],
      ['block', enc],
      ['block', { ...enc, sparse: { switch: sw, skills: null } }],
      ['block', { ...enc, sparse: { switch: null, skills } }],
      ['block', { ...enc, sparse: { switch: sw, skills } }],
      ['final_norm', { dModel: 8, layerNormEps: 1e-5 }],
      ['adapter', { dModel: 8, size: 5, layerNormEps: 1e-5, initStd: 0.02 }],
      ['lora', { dModel: 8, ffn: 12, rank: 3 }],
      ['lora', { dModel: 8, ffn: 0, rank: 2 }],
      ['embedding_lora', { vocabSize: 50, dModel: 8, rank: 3 }],
      ['head', { type: 'classification', dModel: 8, classes: 7, dropout: 0.1, initStd: 0.02 }],
      ['head', { type: 'tagging', dModel: 8, classes: 7, dropout: 0.1, initStd: 0.02 }],
      ['head', { type: 'regression', dModel: 8, classes: 1, dropout: 0.1, initStd: 0.02 }],
      ['head', { type: 'classification', dModel: 8, classes: 7, dropout: 0.1, initStd: 0.02, lexical: { buckets: 11, dim: 3, ngrams: 2 } }],
      ['head', { type: 'regression', dModel: 8, classes: 1, dropout: 0.1, initStd: 0.02, lexical: { buckets: 5, dim: 2, ngrams: 1 } }],
    ];
    for (const [kind, config] of configs) {
      assert.equal(parameterCount(kind, config as never), buildModule(kind, config as never, new Rng(0)).numParameters(), `${kind} ${JSON.stringify(config)}`);
    }
    const layouts: SparseConfig[] = [
      { switch: null, skills: null },
      { switch: { ...sw, every: 2 }, skills: null },
      { switch: null, skills: { skills, generic: null, table: { t: ['a'] }, layers: [0, 2] } },
    ];
    for (const sparse of layouts) {
      const lm = new LanguageModel(enc, new Rng(0), sparseFfnFactory(enc, sparse, new Rng(0)));
      const n = languageModelParameters(enc, sparse);
      assert.equal(n.encoder, lm.encoder.numParameters());
      assert.equal(n.encoder + n.lmHead, lm.numParameters());
    }
  });

  it('a base folder without its LM head is damaged: refused naming the tensor; an encoder folder has none to lack', () => {
    const dir = copy('base', 'no-lm-head', (d) => editWeights(d, (t) => t.delete('lm_head.bias')));
    const weights = join(dir, 'model.safetensors');
    refuses(() => loadPretrained(dir), weights, /missing parameter "lm_head\.bias"/);
    refuses(() => loadModel(dir), weights, /missing parameter "lm_head\.bias"/);
    const pre = loadPretrained(folders.encoder.dir);
    assert.ok(pre.missing.includes('lm_head.bias'), String(pre.missing));
    assert.deepEqual(
      pre.tasks.map((t) => t.spec.name),
      ['sent', 'ner'],
    );
  });

  it("loadPretrained (what inspect runs) checks an encoder folder's heads and requires tokenizer.json of a Pathwise folder", () => {
    const noHead = copy('encoder', 'no-head', (d) => editWeights(d, (t) => t.delete('heads.sent.out.bias')));
    refuses(() => loadPretrained(noHead), join(noHead, 'model.safetensors'), /missing parameter "heads\.sent\.out\.bias"/);
    const nanHead = copy('encoder', 'nan-head', (d) => editWeights(d, (t) => (t.get('heads.ner.out.weight')!.f32[3] = Number.NaN)));
    refuses(() => loadPretrained(nanHead), join(nanHead, 'model.safetensors'), /"heads\.ner\.out\.weight" holds a non-finite value \(NaN\) at index 3/);
    for (const kind of ['base', 'encoder']) {
      const dir = copy(kind, `${kind}-no-tokenizer`, (d) => rmSync(join(d, 'tokenizer.json')));
      refuses(() => loadPretrained(dir), join(dir, 'tokenizer.json'), /no tokenizer\.json/);
    }
    // A Hugging Face BERT folder may come without one (vocab.txt instead).
    assert.equal(loadPretrained(folders.bert.dir).tokenizer, null);
  });

  it("checks every config of a components folder by its kind's schema, and its size against the weights, before building", () => {
    const cases: [string, (j: Record<string, unknown>) => void, RegExp][] = [
      ['top-level encoder key', (j) => (j.dModel = 1e6), /config\.json: unknown key "dModel"/],
      [
        'dModel',
        (j) => ((j.components as { config: Record<string, unknown> }[])[1].config.dModel = 1e6),
        /components\[1\]\.config\.dModel must be an integer in \[1, 32768\], got 1000000/,
      ],
      [
        'layers',
        (j) => ((j.components as { config: Record<string, unknown> }[])[0].config.layers = -1),
        /components\[0\]\.config\.layers must be an integer in \[0, 256\], got -1/,
      ],
      [
        'vocabSize',
        (j) => ((j.components as { config: Record<string, unknown> }[])[0].config.vocabSize = 'x'),
        /components\[0\]\.config\.vocabSize must be an integer in \[8, 2097152\], got "x"/,
      ],
      [
        'kind',
        (j) => ((j.components as Record<string, unknown>[])[2].kind = 'blok'),
        /components\[2\]\.kind must be one of "embeddings", "image_stem", "block", /,
      ],
      [
        'size',
        (j) => ((j.components as { config: Record<string, unknown> }[])[1].config.ffn = 1 << 17),
        /config\.json components \(the largest, components\[1\], a block: .*ffn 131072.*\) describes [\d,]+ parameters, but .*model\.safetensors holds [\d,]+ values/,
      ],
      ['maxLen', (j) => (j.maxLen = 1000), /maxLen \(1000\) exceeds components\[0\]\.config\.maxPositions \(24\)/],
      [
        'experts',
        (j) => ((j.components as { config: { sparse: { switch: { experts: number } } } }[])[2].config.sparse.switch.experts = 5000),
        /experts must be an integer in \[1, 1024\]/,
      ],
    ];
    const kinds = JSON.parse(folders.components.files['config.json'].toString()).components.map((c: { kind: string }) => c.kind);
    assert.deepEqual(kinds.slice(0, 3), ['embeddings', 'block', 'block']);
    for (const [name, edit, re] of cases) {
      const dir = copy('components', `components-${name}`, (d) => editJson(join(d, 'config.json'), edit));
      refuses(() => loadModel(dir), join(dir, 'config.json'), re);
    }
  });

  it('refuses a tokenizer whose ids run past the embedding rows, naming the token and the id', () => {
    for (const kind of ['base', 'encoder', 'components']) {
      const dir = copy(kind, `${kind}-big-id`, (d) =>
        editJson(join(d, 'tokenizer.json'), (j) => {
          const vocab = (j.model as { vocab: Record<string, number> }).vocab;
          vocab[Object.keys(vocab).at(-1)!] = 99999;
        }),
      );
      const load = kind === 'base' ? () => loadPretrained(dir) : () => loadModel(dir);
      refuses(
        load,
        join(dir, 'tokenizer.json'),
        /tokenizer\.json: token ".+" has id 99999, but the model's vocabulary \(.*config\.json.*: vocabSize\) has \d+ rows/,
      );
    }
    // Segment ids: the template marks the pair's tokens 1, so a model needs two segment rows.
    const tok = Tokenizer.fromFile(join(folders.base.dir, 'tokenizer.json'));
    assert.equal(tok.typeVocabSize, 2);
    const j = tok.toJson();
    j.post_processor = null;
    assert.equal(Tokenizer.fromJson(j).typeVocabSize, 1);
  });

  it('refuses integer tensors where parameters belong, and weights beyond the float16 range', () => {
    const ints = copy('encoder', 'int-weights', (d) => editWeights(d, (t) => t.set('layers.0.ln1.bias', new Tensor(new Int32Array(8), [8]))));
    refuses(() => loadModel(ints), join(ints, 'model.safetensors'), /"layers\.0\.ln1\.bias" holds integers/);
    const huge = copy('components', 'huge-weight', (d) => editWeights(d, (t) => (t.get('components.blk1.attn.qkv.weight')!.f32[5] = 5.3e36)));
    refuses(() => loadModel(huge), join(huge, 'model.safetensors'), /"components\.blk1\.attn\.qkv\.weight" holds 5\.\d+e\+36 at index 5, beyond ±65504/);
  });
});
