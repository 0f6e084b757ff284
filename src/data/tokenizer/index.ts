// Tokenizer: byte-level BPE training (ours) and Hugging Face tokenizer.json encoding (the
// `tokenizers` binding).

export {
  trainBpe,
  trainBpeWithReport,
  bytesToUnicode,
  byteAlphabet,
  DEFAULT_SPECIAL_TOKENS,
  GPT2_PATTERN,
  MAX_TRAIN_WORD,
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
  MAX_CUT_CHARS,
  PIECE_CHARS,
} from './tokenizer.js';
export { LLAMA3_PATTERN, cutEnd, cutProfile, isBoundary, pieceEnds, type CutProfile } from './cut.js';
