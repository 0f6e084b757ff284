// Data: the byte-level BPE tokenizer and Hugging Face tokenizer.json encoding, corpus readers and
// the built-in pretraining corpus, and the fixed downstream splits.

export * from './tokenizer/index.js';
export * from './corpus/index.js';
