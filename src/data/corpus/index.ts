// Corpus parsers and the pretraining corpus: Brown, WordNet, State of the Union, Moby-Dick, the
// user's own txt/jsonl corpus, and the built-in pretraining documents with downstream test splits
// left out. The fixed downstream splits live in ../splits.ts and are re-exported here.

export * from './brown.js';
export * from './wordnet.js';
export * from './texts.js';
export * from './reader.js';
export * from './pretrain_corpus.js';
export { SPLIT_SEED, DEV_FRACTION, TEST_FRACTION, brownSplit, wordnetSplit, wicLemmaSplit, wicLemmas, type Split } from '../splits.js';
