// CSV for task files: csv-parse does the parsing; this file pins the dialect we promise (RFC 4180,
// comma-separated, "..." quoting with doubled inner quotes, blank lines skipped) and turns its
// errors into InputErrors (of the caller's class) naming the file, the line the record starts on and the field.
//
// csv-parse reports the line a record *ends* on (and, on errors, the line it stopped at), which for
// a multi-line quoted field or an unterminated quote is far from where the user has to look. So
// the start line is recovered here from byte offsets: each record's context gives the byte offset
// it ends at, and the next record starts at the first non-blank line after that.

import { CsvError, parse, type InfoRecord } from 'csv-parse/sync';
import type { InputError } from '../util/errors.js';

/**
 * The most bytes one record may hold. Without a bound an unterminated quote makes the parser
 * buffer the rest of the file as one field; 1 MiB is far beyond any text a model reads (a few
 * thousand characters) yet small enough that a broken file fails fast.
 */
export const MAX_CSV_RECORD_BYTES = 1 << 20;

export interface CsvRow {
  /** 1-based line the record starts on. */
  line: number;
  fields: string[];
}

/**
 * Parses CSV text (already decoded, \n line ends, no BOM) into rows with the line each starts on.
 * The first row is taken as the header when an error names a field. A quote inside an unquoted
 * field, text after a closing quote, an unterminated quote and a record over
 * MAX_CSV_RECORD_BYTES are errors; rows may differ in length (the caller checks them).
 */
export function parseCsvRows(text: string, file: string, Err: new (message: string, file: string, line?: number) => InputError): CsvRow[] {
  const buf = Buffer.from(text, 'utf8');
  const rows: CsvRow[] = [];
  // Byte offset where the last record ended, and the 1-based line at that offset.
  let pos = 0;
  let line = 1;
  const skipBlankLines = (): number => {
    while (pos < buf.length && buf[pos] === 0x0a) {
      pos++;
      line++;
    }
    return line;
  };
  const advanceTo = (end: number) => {
    for (; pos < end; pos++) if (buf[pos] === 0x0a) line++;
  };

  // `raw: true` is needed for the error context's `raw` (to find the character after a bad closing
  // quote); it also wraps each record as { record, raw }, hence `unknown` below.
  const onRecord = (rec: unknown, ctx: InfoRecord): null => {
    const start = skipBlankLines();
    advanceTo(ctx.bytes);
    rows.push({ line: start, fields: (rec as { record: string[] }).record });
    return null; // collected above; keeps csv-parse from holding a second copy
  };
  try {
    parse(buf, {
      delimiter: ',',
      quote: '"',
      escape: '"',
      record_delimiter: '\n',
      skip_empty_lines: true,
      relax_column_count: true,
      max_record_size: MAX_CSV_RECORD_BYTES,
      raw: true,
      on_record: onRecord,
    });
  } catch (e) {
    if (!(e instanceof CsvError)) throw e;
    const recordFrom = pos; // the failing record's raw text (blank lines included) starts here
    const start = skipBlankLines();
    const header = rows[0]?.fields;
    const column = typeof e.column === 'number' ? e.column : -1;
    // A bad header row has no names yet: its fields are numbered.
    const field = column < 0 ? '' : header && column < header.length ? `field ${JSON.stringify(header[column])}` : `column ${column + 1}`;
    const where = field ? `${field}; ` : '';
    const fail = (what: string): never => {
      throw new Err(`${file} line ${start}: ${what}`, file, start);
    };
    switch (e.code) {
      case 'INVALID_OPENING_QUOTE':
        return fail(`a quote inside an unquoted field (${where}quote the whole field and double inner quotes: "a ""b"" c")`);
      case 'CSV_INVALID_CLOSING_QUOTE': {
        // csv-parse names the offending byte, not the character; read it from the text instead.
        const raw = typeof e.raw === 'string' ? e.raw : '';
        const at = recordFrom + Buffer.byteLength(raw, 'utf8');
        const ch = [...buf.toString('utf8', at, Math.min(at + 4, buf.length))][0];
        const got = ch === undefined ? 'text' : JSON.stringify(ch);
        return fail(`unexpected ${got} after a closing quote (${where}a quote inside a quoted field must be doubled: "")`);
      }
      case 'CSV_QUOTE_NOT_CLOSED':
        return fail(`unterminated quoted field (${where}the quote opened in the record starting on this line is never closed)`);
      case 'CSV_MAX_RECORD_SIZE':
        return fail(
          `the record starting on this line is over ${MAX_CSV_RECORD_BYTES.toLocaleString('en-US')} bytes (${where}usually a quote that is never ` +
            'closed, or one that should have been doubled, swallowing the lines after it)',
        );
      default:
        return fail(`malformed CSV (${where}${e.message})`);
    }
  }
  return rows;
}
