// Task files in CSV, read by csv-parse: records keep the line they start on, and malformed or
// oversized records are reported by file, line and field.

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { MAX_CSV_RECORD_BYTES } from '../../src/tasks/csv.js';
import { TaskDataError, loadTaskFromFiles, parseCsv, type TaskFileConfig } from '../../src/tasks/from_files.js';
import type { TaskType } from '../../src/tasks/task.js';

describe('task files: CSV', () => {
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
  const load = (type: TaskType, train: string, more: Partial<TaskFileConfig> = {}) => loadTaskFromFiles({ name: 't', type, train, devFraction: 0, ...more });
  /** Loading fails with a TaskDataError whose message matches `re`, at `line` of the file `name`. */
  const fails = (fn: () => unknown, name: string, line: number, re: RegExp) =>
    assert.throws(fn, (e: unknown) => {
      assert.ok(e instanceof TaskDataError, String(e));
      assert.ok(e.message.startsWith(`${join(dir, name)} line ${line}: `), e.message);
      assert.match(e.message, re);
      assert.equal(e.line, line, e.message);
      assert.equal(e.file, join(dir, name));
      return true;
    });

  it('CSV records carry the line they start on, past blank lines and multi-line fields', () => {
    const rows = parseCsv('a,b\n\n"x\ny",1\n\n\nc,"d\n\ne"\nf,"g ""h"""', 'f.csv');
    assert.deepEqual(rows, [
      { line: 1, fields: ['a', 'b'] },
      { line: 3, fields: ['x\ny', '1'] },
      { line: 7, fields: ['c', 'd\n\ne'] },
      { line: 10, fields: ['f', 'g "h"'] },
    ]);
    const t = load('classification', file('ml.csv', 'label,text\r\n\r\na,"one\r\ntwo"\r\nb,"three, ""four"""\r\n'));
    assert.deepEqual(t.train, [{ text: 'one\ntwo', label: 'a' }, { text: 'three, "four"', label: 'b' }]);
  });

  it('malformed CSV is reported at the line its record starts, naming the field', () => {
    fails(() => load('classification', file('c1.csv', 'text,label\nok,a\n\n\n"open,a\nmore\nstill more\n')), 'c1.csv', 5, /unterminated quoted field \(field "text"; the quote opened in the record starting on this line is never closed\)/);
    fails(() => load('classification', file('c2.csv', 'text,label\nok,a\n"caf\u00e9\nau lait"\u00fc,b\n')), 'c2.csv', 3, /unexpected "\u00fc" after a closing quote \(field "text"; a quote inside a quoted field must be doubled: ""\)/);
    fails(() => load('classification', file('c3.csv', 'text,label\n"two\nlines",a"b\n')), 'c3.csv', 2, /a quote inside an unquoted field \(field "label"; quote the whole field/);
    fails(() => load('classification', file('c4.csv', 'text,label\n"x",a,\n')), 'c4.csv', 2, /2: 3 fields, but the header has 2/);
    // in the header itself the fields have no names yet
    fails(() => load('classification', file('c5.csv', 'label,te"xt\na,x\n')), 'c5.csv', 1, /a quote inside an unquoted field \(column 2; /);
  });

  it('a huge field or a runaway quote stops at MAX_CSV_RECORD_BYTES with the record start line', () => {
    const over = MAX_CSV_RECORD_BYTES + 16;
    const bound = /the record starting on this line is over 1,048,576 bytes/;
    fails(() => load('classification', file('big.csv', `text,label\nok,a\n\n${'x'.repeat(over)},a\n`)), 'big.csv', 4, new RegExp(`${bound.source} \\(field "text"; usually a quote that is never closed`));
    // an unclosed quote on line 3 swallows many later lines: the error still points at line 3
    const later = Array.from({ length: 40_000 }, (_, i) => `row ${i} with some words,a`).join('\n');
    fails(() => load('classification', file('runaway.csv', `text,label\nok,a\n"oops,a\n${later}\n`)), 'runaway.csv', 3, bound);
    // just under the bound is fine
    const t = load('classification', file('fits.csv', `text,label\n${'y'.repeat(MAX_CSV_RECORD_BYTES - 8)},a\n`));
    assert.equal((t.train[0].text as string).length, MAX_CSV_RECORD_BYTES - 8);
  });
});
