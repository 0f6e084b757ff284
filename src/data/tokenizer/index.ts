// Tokenizer: byte-level BPE training (ours) and Hugging Face tokenizer.json encoding (the
// `tokenizers` binding).

export {
  trainBpe,
  trainBpeWithReport,
  bytesToUnicode,
  byteAlphabet,
  DEFAULT_SPECIAL_TOKENS,
  GPT2_PATTERN,
  type AddedTokenJson,
  type BpeProgress,
  type BpeStopReason,
  type BpeTrainOptions,
  type BpeTrainReport,
  type TokenizerJson,
} from './bpe_trainer.js';
export {
  Tokenizer,
  gpt2TokenizerJson,
  stringifyTokenizerJson,
  toWellFormed,
  validateTokenizerJson,
  type EncodeOptions,
  type EncodedText,
  type SpecialIds,
} from './tokenizer.js';
