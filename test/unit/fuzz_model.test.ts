// Fuzzing the model-folder loaders (issue 15, item 6): seeded mutations of a valid folder of each
// kind (a pretrained base, an "encoder" folder with task heads, a "components" folder with a Switch
// block and an adapter, a Hugging Face BERT folder) — its model.safetensors, config.json and
// tokenizer.json, bytes and structure. Each case either loads, and then every task's forward pass
// on an input gives finite logits, or is refused with an InputError that names a file of the
// folder: never another error, never a crash. Memory stays bounded (a config is checked against
// its weights before anything is allocated). The timeout is a guard against a hang, not a timing
// assertion.

import assert from 'node:assert/strict';
import { copyFileSync, cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Tensor, inference } from '../../src/engine/index.js';
import { loadModel, loadPretrained, type TaskSpec } from '../../src/model/index.js';
import type { Example } from '../../src/tasks/task.js';
import { Prng, Tally, cases, mutateBytes, mutateJson, naming, toJsonText } from '../fuzz.js';
import { TEXTS, writeModelFolders, type Folder, type Kind } from '../model_folders.js';

const exampleFor = (spec: TaskSpec): Example =>
  spec.type === 'pair_classification' ? { text: 'a good film', textPair: 'a bad film' } : { text: 'the good film was long' };

const allFinite = (t: Tensor, what: string) => {
  const d = t.f32;
  for (let i = 0; i < d.length; i++) if (!Number.isFinite(d[i])) throw new assert.AssertionError({ message: `${what}: logit ${i} is ${d[i]}` });
};

/** Loads the folder the way the commands do and runs every task (or the LM) forward once. */
async function loadAndRun(kind: Kind, dir: string): Promise<void> {
  if (kind === 'base' || kind === 'bert') {
    // What inspect, pretraining and training from a base load.
    const pre = loadPretrained(dir);
    const T = Math.min(3, pre.config.maxPositions);
    const ids = pre.tokenizer
      ? Int32Array.from((await pre.tokenizer.encode(TEXTS[0], null, { maxLength: T })).ids)
      : Int32Array.from({ length: T }, (_, i) => i % pre.config.vocabSize);
    const x = new Tensor(ids, [1, ids.length]);
    const rows = new Tensor(
      Int32Array.from(ids, (_, i) => i),
      [ids.length],
    );
    allFinite(
      inference(() => pre.model.logitsAt(pre.model.encoder.forward(x), rows)),
      'LM',
    );
    return;
  }
  const m = loadModel(dir);
  for (const [name, { spec }] of m.tasks) {
    const batch = await m.encode(name, [exampleFor(spec)], false);
    allFinite(
      inference(() => m.logits(name, batch)),
      name,
    );
    await m.predict(name, [exampleFor(spec)]);
  }
}

/** safetensors' header as an object, and the data section. */
function splitSafetensors(b: Buffer): { header: Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }>; data: Buffer } {
  const n = Number(b.readBigUInt64LE(0));
  return { header: JSON.parse(b.subarray(8, 8 + n).toString('utf8')), data: b.subarray(8 + n) };
}

function joinSafetensors(header: unknown, data: Buffer, headerText = toJsonText(header)): Buffer {
  const h = Buffer.from(headerText, 'utf8');
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(h.length));
  return Buffer.concat([len, h, data]);
}

/** Mutations of model.safetensors that keep it a valid file (the loader's own checks must catch them), and ones that do not. */
function mutateWeights(b: Buffer, r: Prng): { bytes: Buffer; what: string } {
  const { header, data } = splitSafetensors(b);
  const names = Object.keys(header).filter((k) => k !== '__metadata__');
  const name = r.pick(names);
  const e = header[name];
  const hlen = Number(b.readBigUInt64LE(0));
  switch (r.int(8)) {
    case 0: {
      // A value in the data section: NaN, an infinity, an out-of-range float, a flipped exponent bit.
      const out = Buffer.from(b);
      const [from, to] = e.data_offsets;
      if (to - from < 4 || e.dtype !== 'F32') return { bytes: out, what: 'unchanged' };
      const at = 8 + hlen + from + 4 * r.int((to - from) / 4);
      const v = r.pick([Number.NaN, Number.POSITIVE_INFINITY, -3e38, 1e36, 65505, 65504, -1e5]);
      if (r.chance(0.5)) out.writeFloatLE(v, at);
      else out[at + 3] ^= 0x40;
      return { bytes: out, what: `a value of "${name}" damaged` };
    }
    case 1: {
      // A tensor dropped with its bytes: the file stays valid, the model lacks a parameter.
      const [from, to] = e.data_offsets;
      delete header[name];
      for (const k of names) {
        if (k === name) continue;
        const o = header[k].data_offsets;
        if (o[0] >= to) header[k].data_offsets = [o[0] - (to - from), o[1] - (to - from)];
      }
      return { bytes: joinSafetensors(header, Buffer.concat([data.subarray(0, from), data.subarray(to)])), what: `"${name}" removed` };
    }
    case 2: {
      // The same bytes in another shape (a transposed matrix, an extra axis).
      const s = e.shape;
      e.shape = r.pick([[...s].reverse(), [...s, 1], [1, ...s], [s.reduce((a, x) => a * x, 1)]]);
      return { bytes: joinSafetensors(header, data), what: `"${name}" reshaped to [${e.shape}]` };
    }
    case 3: {
      // An extra tensor, or one renamed.
      if (r.chance(0.5)) {
        header[`${name}.extra`] = { dtype: 'F32', shape: [1], data_offsets: [data.length, data.length + 4] };
        return { bytes: joinSafetensors(header, Buffer.concat([data, Buffer.alloc(4)])), what: 'an extra tensor' };
      }
      delete header[name];
      header[`${name}x`] = e;
      return { bytes: joinSafetensors(header, data), what: `"${name}" renamed` };
    }
    case 4: {
      // Another dtype of the same width (integers where floats belong), or of another width.
      e.dtype = r.pick(['I32', 'U8', 'F16', 'BF16', 'F64', 'I64', 'BOOL', 'Q4', 'f32']);
      return { bytes: joinSafetensors(header, data), what: `"${name}" as ${e.dtype}` };
    }
    case 5: {
      // Header structure: any field, any extreme.
      const what = mutateJson(header, r, /^(shape|data_offsets|dtype|__metadata__)$/);
      return { bytes: joinSafetensors(header, data), what: `header: ${what}` };
    }
    case 6: {
      // The header length itself.
      const out = Buffer.from(b);
      const v = r.pick([
        0n,
        1n,
        2n,
        BigInt(hlen - 1),
        BigInt(hlen + 1),
        BigInt(hlen + 8),
        BigInt(b.length),
        1n << 40n,
        (1n << 64n) - 1n,
        BigInt(r.int(b.length)),
      ]);
      out.writeBigUInt64LE(v, 0);
      return { bytes: out, what: `header length ${v}` };
    }
    default:
      return mutateBytes(b, r, r.chance(0.7) ? [0, 8 + hlen] : [0, b.length]);
  }
}

/** Keys whose values decide what a load allocates: the mutations favour them. */
const SIZE_KEYS =
  /^(vocabSize|maxPositions|typeVocabSize|dModel|layers|heads|ffn|size|classes|experts|skills|labels|maxLen|kind|type|sparse|config|tasks|components|blocks|embeddings|head|vocab_size|hidden_size|num_hidden_layers|num_attention_heads|intermediate_size|max_position_embeddings|type_vocab_size)$/;

function mutateConfig(b: Buffer, r: Prng): { bytes: Buffer; what: string } {
  if (r.chance(0.2)) return mutateBytes(b, r);
  const c = JSON.parse(b.toString('utf8'));
  const n = 1 + (r.chance(0.3) ? r.int(3) : 0);
  const what = Array.from({ length: n }, () => mutateJson(c, r, SIZE_KEYS)).join('; ');
  return { bytes: Buffer.from(toJsonText(c, r.chance(0.5) ? 2 : undefined)), what };
}

function mutateTokenizer(b: Buffer, r: Prng): { bytes: Buffer; what: string } {
  if (r.chance(0.4)) return mutateBytes(b, r);
  const t = JSON.parse(b.toString('utf8'));
  if (r.chance(0.3)) {
    // An id: past the vocabulary, shared with another token, or of another type.
    const vocab = t.model.vocab as Record<string, unknown>;
    const tokens = Object.keys(vocab);
    const tok = r.pick(tokens);
    const v = r.pick([99999, vocab[r.pick(tokens)], -1, 2 ** 31, 0.5, 'x', tokens.length, tokens.length + 1]);
    vocab[tok] = v;
    return { bytes: Buffer.from(JSON.stringify(t)), what: `vocab[${JSON.stringify(tok)}] = ${JSON.stringify(v)}` };
  }
  const what = mutateJson(t, r, /^(id|content|vocab|merges|added_tokens|model|type|special|unk_token|pre_tokenizer|post_processor|decoder|normalizer)$/);
  return { bytes: Buffer.from(toJsonText(t)), what };
}

describe('fuzzing the model-folder loaders', () => {
  let work = '';
  let folders: Folder[] = [];

  before(() => {
    work = mkdtempSync(join(tmpdir(), 'pw-fuzz-model-'));
    folders = writeModelFolders(work);
  });
  after(() => rmSync(work, { recursive: true, force: true }));

  it('the unmutated folders load and run (what every case is a mutation of)', async () => {
    assert.deepEqual(
      folders.map((f) => f.kind),
      ['base', 'encoder', 'components', 'bert'],
    );
    assert.equal(JSON.parse(folders[2].files['config.json'].toString()).layout, 'components');
    for (const f of folders) {
      const dir = join(work, `pristine-${f.kind}`);
      mkdirSync(dir);
      for (const [name, bytes] of Object.entries(f.files)) writeFileSync(join(dir, name), bytes);
      await loadAndRun(f.kind, dir);
    }
  });

  const CASES: Record<Kind, number> = { base: 600, encoder: 600, components: 600, bert: 200 };

  for (const kind of ['base', 'encoder', 'components', 'bert'] as const) {
    it(`${kind} folder: ${CASES[kind]} mutated folders each load and run finite, or are refused naming their file`, { timeout: 120_000 }, async (t) => {
      const f = folders.find((x) => x.kind === kind)!;
      const r = new Prng(0x5eed + kind.length);
      const tally = new Tally(`${kind} folder`);
      const dir = join(work, `case-${kind}`);
      const dump = process.env.FUZZ_DUMP;
      if (dump) tally.dump = (name) => cpSync(dir, join(dump, name), { recursive: true });
      for (let i = 0; i < cases(CASES[kind]); i++) {
        const files = { ...f.files };
        const which = r.pick(kind === 'bert' ? ['config.json', 'model.safetensors'] : ['config.json', 'model.safetensors', 'tokenizer.json', 'config.json']);
        const m =
          which === 'config.json'
            ? mutateConfig(files[which], r)
            : which === 'model.safetensors'
              ? mutateWeights(files[which], r)
              : mutateTokenizer(files[which], r);
        files[which] = m.bytes;
        rmSync(dir, { recursive: true, force: true });
        mkdirSync(dir);
        for (const [name, bytes] of Object.entries(files)) writeFileSync(join(dir, name), bytes);
        await tally.run(`${which}: ${m.what}`, () => loadAndRun(kind, dir), naming(dir));
      }
      t.diagnostic(tally.summary());
      tally.check();
    });
  }

  it('a folder of a hostile size is refused from its config alone, before anything is allocated', () => {
    const f = folders[0];
    const dir = join(work, 'hostile');
    mkdirSync(dir);
    copyFileSync(join(f.dir, 'model.safetensors'), join(dir, 'model.safetensors'));
    writeFileSync(join(dir, 'tokenizer.json'), f.files['tokenizer.json']);
    const cfg = JSON.parse(f.files['config.json'].toString());
    // Each within its own bound, together terabytes: refused by the size check, with RSS unchanged.
    const before = process.memoryUsage.rss();
    for (const big of [{ dModel: 32768, heads: 1 }, { vocabSize: 1 << 21 }, { layers: 256, ffn: 1 << 17 }, { layers: 0, dModel: 32768, heads: 1 }]) {
      writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...cfg, ...big }));
      assert.throws(
        () => loadPretrained(dir),
        (e: unknown) =>
          e instanceof Error &&
          e.name === 'ModelFolderError' &&
          /config\.json \(.*\) describes [\d,]+ parameters, but .*model\.safetensors holds [\d,]+ values/.test(e.message),
        JSON.stringify(big),
      );
    }
    assert.ok(process.memoryUsage.rss() - before < 256 * 2 ** 20, 'nothing of the hostile size was allocated');
  });
});
