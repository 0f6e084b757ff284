// Importing Hugging Face BERT checkpoints (BertModel / BertForMaskedLM parameter names) into the
// Pathwise encoder. BERT is a post-LN encoder with an embedding LayerNorm; its Q, K and V are
// separate Linears, which are stacked into Pathwise's fused qkv (rows Q, then K, then V).
//
//   bert.embeddings.word_embeddings            -> embeddings.word
//   bert.embeddings.position_embeddings        -> embeddings.position
//   bert.embeddings.token_type_embeddings      -> embeddings.type
//   bert.embeddings.LayerNorm                  -> embeddings.norm
//   bert.encoder.layer.i.attention.self.{query,key,value} -> layers.i.attn.qkv
//   bert.encoder.layer.i.attention.output.dense      -> layers.i.attn.out
//   bert.encoder.layer.i.attention.output.LayerNorm  -> layers.i.ln1
//   bert.encoder.layer.i.intermediate.dense          -> layers.i.ffn.fc1
//   bert.encoder.layer.i.output.dense                -> layers.i.ffn.fc2
//   bert.encoder.layer.i.output.LayerNorm            -> layers.i.ln2
//   cls.predictions.transform.dense / .LayerNorm     -> lm_head.dense / lm_head.norm
//   cls.predictions.bias                             -> lm_head.bias
// The decoder weight is tied to the word embeddings; the pooler is not used. The "bert." prefix
// is optional (BertModel checkpoints have none), and old TF-converted LayerNorm names
// gamma / beta are accepted.

import { Tensor, concat } from '../engine/index.js';
import { InputError } from '../util/errors.js';
import { explain, shown } from '../util/schema.js';
import { savedEncoderConfigSchema, type EncoderConfig } from './encoder_config.js';

/** The BertConfig key each encoder key is read from (and named by in messages). */
const BERT_KEYS: Partial<Record<keyof EncoderConfig, string>> = {
  vocabSize: 'vocab_size',
  maxPositions: 'max_position_embeddings',
  typeVocabSize: 'type_vocab_size',
  dModel: 'hidden_size',
  layers: 'num_hidden_layers',
  heads: 'num_attention_heads',
  ffn: 'intermediate_size',
  dropout: 'hidden_dropout_prob',
  attentionDropout: 'attention_probs_dropout_prob',
  layerNormEps: 'layer_norm_eps',
  initStd: 'initializer_range',
};

/**
 * Encoder config from a Hugging Face BertConfig (config.json), checked with the encoder's own
 * bounds (encoder_config.ts); errors are InputErrors naming `source` and the BertConfig key.
 */
export function encoderConfigFromBert(hf: Record<string, unknown>, source = 'config.json'): EncoderConfig {
  const num = (k: string, dflt?: number): number => {
    const v = hf[k] ?? dflt;
    if (typeof v !== 'number') throw new InputError(`${source}: "${k}" must be a number`, source);
    return v;
  };
  const act = hf.hidden_act ?? 'gelu';
  const activation = act === 'gelu' ? 'gelu' : act === 'gelu_new' || act === 'gelu_pytorch_tanh' ? 'gelu_tanh' : act === 'relu' ? 'relu' : null;
  if (activation === null) throw new InputError(`${source}: unsupported hidden_act ${shown(act)}`, source);
  if ((hf.position_embedding_type ?? 'absolute') !== 'absolute') throw new InputError(`${source}: only absolute position embeddings are supported`, source);
  const config: EncoderConfig = {
    vocabSize: num('vocab_size'),
    maxPositions: num('max_position_embeddings', 512),
    typeVocabSize: num('type_vocab_size', 2),
    dModel: num('hidden_size'),
    layers: num('num_hidden_layers'),
    heads: num('num_attention_heads'),
    ffn: num('intermediate_size'),
    activation,
    dropout: num('hidden_dropout_prob', 0.1),
    attentionDropout: num('attention_probs_dropout_prob', 0.1),
    layerNormEps: num('layer_norm_eps', 1e-12),
    initStd: num('initializer_range', 0.02),
    normPlacement: 'post',
  };
  const r = savedEncoderConfigSchema.safeParse(config);
  if (!r.success) {
    const { path, expected, message } = explain(savedEncoderConfigSchema, r.error, config);
    const key = BERT_KEYS[path[0] as keyof EncoderConfig];
    throw new InputError(`${source}: ${key && expected ? `"${key}" must be ${expected}, got ${shown(hf[key])}` : message}`, source);
  }
  return config;
}

/**
 * Maps BERT tensors to Pathwise parameter names (lm_head.* only if the checkpoint has cls.*), each
 * in its own shape (query, key and value stacked); the caller checks the shapes against its model.
 */
export function bertToPathwise(src: Map<string, Tensor>, layers: number, source = 'model.safetensors'): Map<string, Tensor> {
  const out = new Map<string, Tensor>();
  const prefix = [...src.keys()].some((k) => k.startsWith('bert.')) ? 'bert.' : '';
  const get = (name: string): Tensor => {
    const alt = name.replace(/LayerNorm\.weight$/, 'LayerNorm.gamma').replace(/LayerNorm\.bias$/, 'LayerNorm.beta');
    const t = src.get(name) ?? src.get(alt);
    if (!t) throw new InputError(`${source}: missing BERT tensor "${name}"`, source);
    if (t.dtype !== 'float32') throw new InputError(`${source}: "${name}" holds integers (an integer dtype), a parameter holds floats`, source);
    return t;
  };
  const put = (to: string, from: string) => out.set(to, get(from));
  const ln = (to: string, from: string) => {
    put(`${to}.weight`, `${from}.weight`);
    put(`${to}.bias`, `${from}.bias`);
  };
  const e = `${prefix}embeddings`;
  put('embeddings.word.weight', `${e}.word_embeddings.weight`);
  put('embeddings.position.weight', `${e}.position_embeddings.weight`);
  put('embeddings.type.weight', `${e}.token_type_embeddings.weight`);
  ln('embeddings.norm', `${e}.LayerNorm`);
  for (let i = 0; i < layers; i++) {
    const l = `${prefix}encoder.layer.${i}`;
    const qkv = (kind: 'weight' | 'bias') => {
      const parts = ['query', 'key', 'value'].map((n) => get(`${l}.attention.self.${n}.${kind}`));
      const shape = parts[0].shape.join();
      if (parts[0].shape.length === 0 || parts.some((t) => t.shape.join() !== shape))
        throw new InputError(`${source}: "${l}.attention.self" query, key and value ${kind}s must be of one shape (not a scalar)`, source);
      return concat(parts, 0);
    };
    out.set(`layers.${i}.attn.qkv.weight`, qkv('weight'));
    out.set(`layers.${i}.attn.qkv.bias`, qkv('bias'));
    ln(`layers.${i}.attn.out`, `${l}.attention.output.dense`);
    ln(`layers.${i}.ln1`, `${l}.attention.output.LayerNorm`);
    ln(`layers.${i}.ffn.fc1`, `${l}.intermediate.dense`);
    ln(`layers.${i}.ffn.fc2`, `${l}.output.dense`);
    ln(`layers.${i}.ln2`, `${l}.output.LayerNorm`);
  }
  if (src.has('cls.predictions.bias')) {
    ln('lm_head.dense', 'cls.predictions.transform.dense');
    ln('lm_head.norm', 'cls.predictions.transform.LayerNorm');
    put('lm_head.bias', 'cls.predictions.bias');
  }
  return out;
}
