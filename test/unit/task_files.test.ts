// Task files in the field conventions users bring (Hugging Face `datasets`: tokens / ner_tags,
// sentence1 / sentence2, integer labels) and CSV read by csv-parse: each convention gives the
// same examples as ours, and each bad row is reported by file, line and field, with the accepted
// names.

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { MAX_CSV_RECORD_BYTES } from '../../src/tasks/csv.js';
import { TaskDataError, loadTaskFromFiles, parseCsv, type TaskFileConfig } from '../../src/tasks/from_files.js';
import type { TaskType } from '../../src/tasks/task.js';

const NER = ['O', 'B-PER', 'I-PER', 'B-LOC', 'I-LOC'];

describe('task files: field conventions and CSV', () => {
  let dir = '';
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'pathwise-task-files-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));
  const file = (name: string, content: string) => {
    const p = join(dir, name);
    writeFileSync(p, content);
    return p;
  };
  const jsonl = (rows: unknown[]) => rows.map((r) => JSON.stringify(r)).join('\n') + '\n';
  const load = (type: TaskType, train: string, more: Partial<TaskFileConfig> = {}) => loadTaskFromFiles({ name: 't', type, train, devFraction: 0, ...more });
  /** Loading fails with a TaskDataError whose message matches `re`, at `line` of the file `name`. */
  const fails = (fn: () => Promise<unknown>, name: string, line: number, re: RegExp) =>
    assert.rejects(fn, (e: unknown) => {
      assert.ok(e instanceof TaskDataError, String(e));
      assert.ok(e.message.startsWith(`${join(dir, name)} line ${line}: `), e.message);
      assert.match(e.message, re);
      assert.equal(e.line, line, e.message);
      assert.equal(e.file, join(dir, name));
      return true;
    });

  it('tokens + ner_tags, as strings or as indices into labels, equal words + tags', async () => {
    const ours = await load(
      'tagging',
      file(
        'ours.jsonl',
        jsonl([
          { words: ['Ada', 'Lovelace', 'in', 'London'], tags: ['B-PER', 'I-PER', 'O', 'B-LOC'] },
          { text: 'at home', tags: ['O', 'O'] },
        ]),
      ),
      { labels: NER },
    );
    const names = await load(
      'tagging',
      file(
        'names.jsonl',
        jsonl([
          { tokens: ['Ada', 'Lovelace', 'in', 'London'], ner_tags: ['B-PER', 'I-PER', 'O', 'B-LOC'], id: '0' },
          { tokens: ['at', 'home'], ner_tags: ['O', 'O'] },
        ]),
      ),
      { labels: NER },
    );
    const indices = await load(
      'tagging',
      file(
        'idx.jsonl',
        jsonl([
          { tokens: ['Ada', 'Lovelace', 'in', 'London'], ner_tags: [1, 2, 0, 3] },
          { tokens: ['at', 'home'], ner_tags: [0, 0] },
        ]),
      ),
      { labels: NER },
    );
    const csvNames = await load('tagging', file('names.csv', 'id,tokens,ner_tags\n0,Ada Lovelace in London,B-PER I-PER O B-LOC\n1,at home,O O\n'), {
      labels: NER,
    });
    const csvIdx = await load('tagging', file('idx.csv', 'tokens,ner_tags\nAda Lovelace in London,1 2 0 3\nat home,0 0\n'), { labels: NER });
    const first = { text: 'Ada Lovelace in London', words: ['Ada', 'Lovelace', 'in', 'London'], tags: ['B-PER', 'I-PER', 'O', 'B-LOC'] };
    assert.deepEqual(names.train[0], first);
    for (const t of [ours, indices, csvNames, csvIdx]) assert.deepEqual(t.train, names.train);
    assert.deepEqual(indices.labels, NER);
    // without labels, string tags are inferred as before
    assert.deepEqual((await load('tagging', file('names2.jsonl', jsonl([{ tokens: ['a', 'b'], ner_tags: ['O', 'B-LOC'] }])))).labels, ['B-LOC', 'O']);
  });

  it('sentence1 / sentence2 equal text / text_pair (JSONL and CSV, pairs and regression)', async () => {
    const ours = await load(
      'pair_classification',
      file(
        'p.jsonl',
        jsonl([
          { text: 'a cat', text_pair: 'a dog', label: 'no' },
          { text: 'x', text_pair: 'x', label: 'yes' },
        ]),
      ),
    );
    const glue = await load(
      'pair_classification',
      file(
        'g.jsonl',
        jsonl([
          { sentence1: 'a cat', sentence2: 'a dog', label: 'no', idx: 0 },
          { sentence1: 'x', sentence2: 'x', label: 'yes', idx: 1 },
        ]),
      ),
    );
    const glueCsv = await load('pair_classification', file('g.csv', 'idx,sentence1,sentence2,label\n0,a cat,a dog,no\n1,x,x,yes\n'));
    assert.deepEqual(glue.train[0], { text: 'a cat', textPair: 'a dog', label: 'no' });
    assert.deepEqual(ours.train, glue.train);
    assert.deepEqual(glueCsv.train, glue.train);
    assert.deepEqual(glue.labels, ['no', 'yes']);
    const sts = await load(
      'regression',
      file(
        'sts.jsonl',
        jsonl([
          { sentence1: 'a', sentence2: 'b', label: 3.8 },
          { sentence1: 'c', label: 1 },
        ]),
      ),
    );
    assert.deepEqual(sts.train, [
      { text: 'a', textPair: 'b', label: 3.8 },
      { text: 'c', label: 1 },
    ]);
    // a classification row's text may be sentence1 too
    assert.deepEqual((await load('classification', file('s1.jsonl', jsonl([{ sentence1: 'fine', label: 'a' }])))).train, [{ text: 'fine', label: 'a' }]);
  });

  it('integer labels index the config labels; without labels they stay decimal strings', async () => {
    const labels = ['negative', 'positive'];
    const byIndex = await load(
      'classification',
      file(
        'i.jsonl',
        jsonl([
          { text: 'bad', label: 0 },
          { text: 'good', label: 1 },
        ]),
      ),
      { labels },
    );
    assert.deepEqual(
      byIndex.train.map((x) => x.label),
      ['negative', 'positive'],
    );
    assert.deepEqual(byIndex.labels, labels);
    const csv = await load('classification', file('i.csv', 'text,label\nbad,0\ngood,1\nfine,positive\n'), { labels });
    assert.deepEqual(
      csv.train.map((x) => x.label),
      ['negative', 'positive', 'positive'],
    );
    // labels that are numerals at their own index: name and index agree
    assert.deepEqual(
      (
        await load(
          'classification',
          file(
            'n.jsonl',
            jsonl([
              { text: 'a', label: 1 },
              { text: 'b', label: '0' },
            ]),
          ),
          { labels: ['0', '1'] },
        )
      ).train.map((x) => x.label),
      ['1', '0'],
    );
    // a numeral label that is not a valid index is that label
    assert.deepEqual(
      (await load('classification', file('stars.csv', 'text,label\nok,5\nmeh,3\n'), { labels: ['3', '5'] })).train.map((x) => x.label),
      ['5', '3'],
    );
    // no labels given: the old meaning (a number's decimal string), also for dev against inferred labels
    const inferred = await load(
      'classification',
      file(
        'd.jsonl',
        jsonl([
          { text: 'a', label: 2 },
          { text: 'b', label: 7 },
        ]),
      ),
      { dev: file('dd.jsonl', jsonl([{ text: 'c', label: 7 }])) },
    );
    assert.deepEqual(inferred.labels, ['2', '7']);
    assert.deepEqual(
      inferred.dev.map((x) => x.label),
      ['7'],
    );
    // ... so 1 in dev is the unseen label "1", not inferred[1] = "7"
    await fails(
      () =>
        load(
          'classification',
          file(
            'd2.jsonl',
            jsonl([
              { text: 'a', label: 2 },
              { text: 'b', label: 7 },
            ]),
          ),
          { dev: file('dd2.jsonl', jsonl([{ text: 'c', label: 1 }])) },
        ),
      'dd2.jsonl',
      1,
      /label "1" is not in the label set \["2", "7"\] \(field "label"\)/,
    );
    // pair tasks index too
    assert.deepEqual(
      (
        await load('pair_classification', file('pi.jsonl', jsonl([{ sentence1: 'a', sentence2: 'b', label: 2 }])), {
          labels: ['entailment', 'neutral', 'contradiction'],
        })
      ).train[0].label,
      'contradiction',
    );
  });

  it('missing and clashing fields: file, line, field and the accepted names', async () => {
    const ok = { text: 'fine', label: 'a' };
    await fails(
      () => load('classification', file('m1.jsonl', jsonl([ok, { sentence: 'x', label: 'a' }]))),
      'm1.jsonl',
      2,
      /missing field "text" \(give the text as "text" or "sentence1"\)/,
    );
    await fails(
      () => load('tagging', file('m2.jsonl', jsonl([{ tokens: ['a'], tags: ['O'] }, { ner_tags: ['O'] }]))),
      'm2.jsonl',
      2,
      /missing field "tokens" \(give the words as "tokens" or "words", an array of strings, or the text as "text" or "sentence1", split on whitespace\)/,
    );
    await fails(
      () => load('tagging', file('m3.jsonl', jsonl([{ tokens: ['a'], pos_tags: [1] }]))),
      'm3.jsonl',
      1,
      /missing field "tags" \(give the tags as "tags" or "ner_tags"\)/,
    );
    await fails(
      () => load('classification', file('m4.jsonl', jsonl([ok, ok, { text: 'x', sentence1: 'x', label: 'a' }]))),
      'm4.jsonl',
      3,
      /both "text" and "sentence1" are given \(two names for the same field; keep one\)/,
    );
    await fails(
      () => load('tagging', file('m5.jsonl', jsonl([{ tokens: ['a'], words: ['a'], tags: ['O'] }]))),
      'm5.jsonl',
      1,
      /both "tokens" and "words" are given/,
    );
    await fails(
      () => load('tagging', file('m6.jsonl', jsonl([{ tokens: ['a'], tags: ['O'], ner_tags: ['O'] }]))),
      'm6.jsonl',
      1,
      /both "tags" and "ner_tags" are given/,
    );
    const pairs = /\(a pair is "text" \+ "text_pair", or "sentence1" \+ "sentence2"\)/;
    await fails(
      () => load('pair_classification', file('m7.jsonl', jsonl([{ text: 'a', sentence2: 'b', label: 'x' }]))),
      'm7.jsonl',
      1,
      new RegExp(`field "sentence2" does not go with "text" ${pairs.source}`),
    );
    await fails(
      () => load('pair_classification', file('m8.jsonl', jsonl([{ sentence1: 'a', text_pair: 'b', label: 'x' }]))),
      'm8.jsonl',
      1,
      /field "text_pair" does not go with "sentence1"/,
    );
    await fails(
      () => load('pair_classification', file('m9.jsonl', jsonl([{ sentence1: 'a', label: 'x' }]))),
      'm9.jsonl',
      1,
      new RegExp(`missing field "sentence2" ${pairs.source}`),
    );
    await fails(
      () => load('regression', file('m10.jsonl', jsonl([{ text: 'a', sentence2: 'b', label: 1 }]))),
      'm10.jsonl',
      1,
      /field "sentence2" does not go with "text"/,
    );
    await fails(
      () => load('classification', file('m11.jsonl', jsonl([{ sentence1: 'a' }]))),
      'm11.jsonl',
      1,
      /missing field "label" \(a string, or an integer index into the task config's "labels"\)/,
    );
    await fails(
      () => load('classification', file('m12.jsonl', jsonl([{ text: 'a', label: [1] }]))),
      'm12.jsonl',
      1,
      /field "label" is an array, not a label \(a string, or an integer index/,
    );
    await fails(
      () => load('tagging', file('m13.jsonl', jsonl([{ tokens: ['a', 'b'], ner_tags: ['O'] }]))),
      'm13.jsonl',
      1,
      /1 tags for 2 words \("tokens"\); "ner_tags" must give one tag per word/,
    );
    await fails(
      () => load('tagging', file('m14.jsonl', jsonl([{ tokens: 'a b', ner_tags: ['O', 'O'] }]))),
      'm14.jsonl',
      1,
      /field "tokens" is a string, not an array of strings/,
    );
  });

  it('bad integer labels and tags: out of range, no labels to index, ambiguous', async () => {
    const labels = ['neg', 'pos'];
    await fails(
      () =>
        load(
          'classification',
          file(
            'r1.jsonl',
            jsonl([
              { text: 'a', label: 1 },
              { text: 'b', label: 2 },
            ]),
          ),
          { labels },
        ),
      'r1.jsonl',
      2,
      /field "label" is 2, read as an index into the task config's "labels", which has 2 \(indices 0 to 1\)/,
    );
    await fails(() => load('classification', file('r2.csv', 'text,label\na,0\nb,9\n'), { labels }), 'r2.csv', 3, /field "label" is 9, read as an index/);
    await fails(
      () => load('tagging', file('r3.jsonl', jsonl([{ tokens: ['a', 'b'], ner_tags: ['O', 3] }]))),
      'r3.jsonl',
      1,
      /field "ner_tags": element 1 is 3, an integer tag, but the task config gives no "labels" for it to index/,
    );
    await fails(
      () => load('tagging', file('r4.jsonl', jsonl([{ tokens: ['a', 'b'], ner_tags: [0, 5] }])), { labels: NER }),
      'r4.jsonl',
      1,
      /field "ner_tags": element 1 is 5, read as an index into the task config's "labels", which has 5/,
    );
    await fails(
      () => load('tagging', file('r5.csv', 'tokens,ner_tags\na b,0 7\n'), { labels: NER }),
      'r5.csv',
      2,
      /field "ner_tags": element 1 is 7, read as an index/,
    );
    await fails(
      () => load('tagging', file('r6.jsonl', jsonl([{ tokens: ['a'], ner_tags: [1.5] }])), { labels: NER }),
      'r6.jsonl',
      1,
      /field "ner_tags": element 0 is 1.5, not a tag \(a string, or an integer index/,
    );
    // "0" is a label, and labels[0] is another one
    await fails(
      () => load('classification', file('r7.jsonl', jsonl([{ text: 'a', label: 0 }])), { labels: ['1', '0'] }),
      'r7.jsonl',
      1,
      /field "label" is 0, which is both the label "0" and "labels"\[0\] = "1"/,
    );
    // CSV has no arrays: an exported Python list is caught, not split into tags "[1," and "2]"
    await fails(
      () => load('tagging', file('r8.csv', 'tokens,ner_tags\na b,O O\n"Ada Lovelace","[1, 2]"\n')),
      'r8.csv',
      3,
      /field "ner_tags" looks like a list \("\[1, 2\]"\); in CSV give the tags separated by spaces/,
    );
    // an unknown tag name names its element
    await fails(
      () => load('tagging', file('r9.jsonl', jsonl([{ tokens: ['a', 'b'], ner_tags: ['O', 'B-ORG'] }])), { labels: NER }),
      'r9.jsonl',
      1,
      /tag "B-ORG" is not in the label set \[.*\] \(field "ner_tags": element 1\)/,
    );
  });

  it('CSV header: missing or clashing columns are reported on the header line', async () => {
    await fails(
      () => load('classification', file('h1.csv', 'sentence,label\nx,a\n')),
      'h1.csv',
      1,
      /the header row has no "text" column \(give the text as "text" or "sentence1"\); the header is "sentence", "label"/,
    );
    await fails(() => load('classification', file('h2.csv', '\n\ntext,sentence1,label\nx,x,a\n')), 'h2.csv', 3, /both "text" and "sentence1" are given/);
    await fails(
      () => load('pair_classification', file('h3.csv', 'sentence1,text_pair,label\nx,y,a\n')),
      'h3.csv',
      1,
      /field "text_pair" does not go with "sentence1"/,
    );
    await fails(
      () => load('tagging', file('h4.csv', 'tokens,pos\na,O\n')),
      'h4.csv',
      1,
      /the header row has no "tags" column \(give the tags as "tags" or "ner_tags", separated by spaces\)/,
    );
    await fails(() => load('classification', file('h5.csv', 'text\nx\n')), 'h5.csv', 1, /the header row has no "label" column/);
  });

  it('CSV records carry the line they start on, past blank lines and multi-line fields', async () => {
    const rows = parseCsv('a,b\n\n"x\ny",1\n\n\nc,"d\n\ne"\nf,"g ""h"""', 'f.csv');
    assert.deepEqual(rows, [
      { line: 1, fields: ['a', 'b'] },
      { line: 3, fields: ['x\ny', '1'] },
      { line: 7, fields: ['c', 'd\n\ne'] },
      { line: 10, fields: ['f', 'g "h"'] },
    ]);
    const t = await load('classification', file('ml.csv', 'label,text\r\n\r\na,"one\r\ntwo"\r\nb,"three, ""four"""\r\n'));
    assert.deepEqual(t.train, [
      { text: 'one\ntwo', label: 'a' },
      { text: 'three, "four"', label: 'b' },
    ]);
  });

  it('malformed CSV is reported at the line its record starts, naming the field', async () => {
    await fails(
      () => load('classification', file('c1.csv', 'text,label\nok,a\n\n\n"open,a\nmore\nstill more\n')),
      'c1.csv',
      5,
      /unterminated quoted field \(field "text"; the quote opened in the record starting on this line is never closed\)/,
    );
    await fails(
      () => load('classification', file('c2.csv', 'text,label\nok,a\n"caf\u00e9\nau lait"\u00fc,b\n')),
      'c2.csv',
      3,
      /unexpected "\u00fc" after a closing quote \(field "text"; a quote inside a quoted field must be doubled: ""\)/,
    );
    await fails(
      () => load('classification', file('c3.csv', 'text,label\n"two\nlines",a"b\n')),
      'c3.csv',
      2,
      /a quote inside an unquoted field \(field "label"; quote the whole field/,
    );
    await fails(() => load('classification', file('c4.csv', 'text,label\n"x",a,\n')), 'c4.csv', 2, /2: 3 fields, but the header has 2/);
    // in the header itself the fields have no names yet
    await fails(() => load('classification', file('c5.csv', 'label,te"xt\na,x\n')), 'c5.csv', 1, /a quote inside an unquoted field \(column 2; /);
  });

  it('a huge field or a runaway quote stops at MAX_CSV_RECORD_BYTES with the record start line', async () => {
    const over = MAX_CSV_RECORD_BYTES + 16;
    const bound = /the record starting on this line is over 1,048,576 bytes/;
    await fails(
      () => load('classification', file('big.csv', `text,label\nok,a\n\n${'x'.repeat(over)},a\n`)),
      'big.csv',
      4,
      new RegExp(`${bound.source} \\(field "text"; usually a quote that is never closed`),
    );
    // an unclosed quote on line 3 swallows many later lines: the error still points at line 3
    const later = Array.from({ length: 40_000 }, (_, i) => `row ${i} with some words,a`).join('\n');
    await fails(() => load('classification', file('runaway.csv', `text,label\nok,a\n"oops,a\n${later}\n`)), 'runaway.csv', 3, bound);
    // just under the bound is fine
    const t = await load('classification', file('fits.csv', `text,label\n${'y'.repeat(MAX_CSV_RECORD_BYTES - 8)},a\n`));
    assert.equal((t.train[0].text as string).length, MAX_CSV_RECORD_BYTES - 8);
  });
});
