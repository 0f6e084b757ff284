// `sent`: UCI Sentiment Labelled Sentences (IMDB, Yelp, Amazon reviews; npm sentiment@5.0.2), a
// sentence -> negative / positive. 3,000 sentences (500 + 500 per domain), split 80/10/10 by a
// fixed-seed shuffle (splitFixed with SPLIT_SEED, not stratified: the split happens to be near
// balanced) -> 2,400 / 300 / 300. Not in the pretraining corpus at all.

import { loadSent, splitFixed } from '../../data/sent.js';
import { DEV_FRACTION, SPLIT_SEED, TEST_FRACTION } from '../../data/splits.js';
import type { Example, TaskData } from '../task.js';

const SENT_LABELS = ['negative', 'positive'];

export function loadSentTask(): TaskData {
  const rows = loadSent().map((r): Example => ({ text: r.text, label: SENT_LABELS[r.label] }));
  const { train, dev, test } = splitFixed(rows, SPLIT_SEED, DEV_FRACTION, TEST_FRACTION);
  return { name: 'sent', type: 'classification', labels: [...SENT_LABELS], train, dev, test };
}
