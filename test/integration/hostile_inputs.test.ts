// Hostile input through every command that reads it (issue 15's acceptance): each class of broken
// model folder, task file and argument, fed to each command that reads it, must exit 2 with a
// one-line message naming the file and the field at fault, no stack trace, and no file changed
// (the case's whole folder is hashed before and after: no partial output, no temporary folder).
// The folders are real ones, written by the CLI: a pretrained base, a `pathwise train` folder and a
// folder `pathwise add-task` has grown (components).

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLI, makeFolders } from '../cli_folders.js';

type Kind = 'pre' | 'run' | 'grown';

function cli(cwd: string, args: string[]): Promise<{ status: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    child.on('close', (status) => resolve({ status, stderr }));
  });
}

/** A digest of every path and byte under `dir`. */
function treeHash(dir: string): string {
  const h = createHash('sha256');
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const p = join(d, e.name);
      h.update(`${p}\0`);
      if (e.isDirectory()) walk(p);
      else h.update(readFileSync(p));
    }
  };
  walk(dir);
  return h.digest('hex');
}

// ------------------------------------------------------------------ broken model folders

interface Safetensors {
  header: Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }>;
  body: Buffer;
}

function readSt(file: string): Safetensors {
  const buf = readFileSync(file);
  const n = Number(buf.readBigUInt64LE(0));
  const header = JSON.parse(buf.subarray(8, 8 + n).toString('utf8'));
  delete header.__metadata__;
  return { header, body: buf.subarray(8 + n) };
}

function writeSt(file: string, headerText: string, body: Buffer): void {
  const h = Buffer.from(headerText, 'utf8');
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(h.length));
  writeFileSync(file, Buffer.concat([len, h, body]));
}

/** Tensor names in byte order. */
const byOffset = (st: Safetensors) => Object.keys(st.header).sort((a, b) => st.header[a].data_offsets[0] - st.header[b].data_offsets[0]);

const esc = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

interface FolderCase {
  name: string;
  /** Breaks the folder; returns what the message must match (the file and the field). */
  corrupt: (dir: string) => RegExp;
}

const editConfig = (dir: string, edit: (c: Record<string, unknown>) => void) => {
  const f = join(dir, 'config.json');
  const c = JSON.parse(readFileSync(f, 'utf8'));
  edit(c);
  writeFileSync(f, JSON.stringify(c, null, 2));
};

/** Every "dModel" in a config (the encoder's, or each component's). */
const setAll = (o: unknown, key: string, v: unknown): void => {
  if (Array.isArray(o)) o.forEach((x) => setAll(x, key, v));
  else if (o && typeof o === 'object') {
    for (const [k, x] of Object.entries(o)) {
      if (k === key) (o as Record<string, unknown>)[k] = v;
      else setAll(x, key, v);
    }
  }
};

const st = (dir: string) => join(dir, 'model.safetensors');

const FOLDER_CASES: FolderCase[] = [
  {
    name: 'no such folder',
    corrupt: (dir) => {
      rmSync(dir, { recursive: true });
      return /model: no such model folder/;
    },
  },
  {
    name: 'no config.json',
    corrupt: (dir) => {
      rmSync(join(dir, 'config.json'));
      return /model: no config\.json/;
    },
  },
  {
    name: 'config.json not JSON',
    corrupt: (dir) => {
      writeFileSync(join(dir, 'config.json'), '{"model_type": "pathwise",');
      return /config\.json: not valid JSON/;
    },
  },
  {
    name: 'config.json from a newer version',
    corrupt: (dir) => {
      editConfig(dir, (c) => {
        c.format = 99;
      });
      return /config\.json: written by a newer Pathwise \(folder format 99/;
    },
  },
  {
    name: 'config.json with a huge width',
    corrupt: (dir) => {
      editConfig(dir, (c) => setAll(c, 'dModel', 1_000_000));
      return /config\.json.*dModel/;
    },
  },
  {
    name: 'config.json with a negative layer count',
    corrupt: (dir) => {
      editConfig(dir, (c) => setAll(c, 'layers', -1));
      return /config\.json.*layers/;
    },
  },
  {
    name: 'no model.safetensors',
    corrupt: (dir) => {
      rmSync(st(dir));
      return /model\.safetensors.*ENOENT|no model\.safetensors/;
    },
  },
  {
    name: 'safetensors cut short',
    corrupt: (dir) => {
      const b = readFileSync(st(dir));
      writeFileSync(st(dir), b.subarray(0, b.length - 100));
      return /model\.safetensors: tensor "[^"]+": data_offsets .* outside/;
    },
  },
  {
    name: 'safetensors header not JSON',
    corrupt: (dir) => {
      const b = readFileSync(st(dir));
      b[9] = 0x7b;
      writeFileSync(st(dir), b);
      return /model\.safetensors: header is not valid JSON/;
    },
  },
  {
    name: 'safetensors tensors overlapping',
    corrupt: (dir) => {
      const s = readSt(st(dir));
      const [a, b] = byOffset(s);
      // The second tensor's bytes start inside the first's; a gap is left at the end instead.
      const e = s.header[b];
      e.data_offsets = [e.data_offsets[0] - 4, e.data_offsets[1] - 4];
      writeSt(st(dir), JSON.stringify(s.header), s.body);
      return new RegExp(`model\\.safetensors: tensor "(${esc(a)}|${esc(b)})" overlaps`);
    },
  },
  {
    name: 'safetensors tensor with a transposed shape',
    corrupt: (dir) => {
      const s = readSt(st(dir));
      const name = byOffset(s).find((k) => s.header[k].shape.length === 2 && s.header[k].shape[0] !== s.header[k].shape[1])!;
      s.header[name].shape.reverse();
      writeSt(st(dir), JSON.stringify(s.header), s.body);
      return new RegExp(`model\\.safetensors: "${esc(name)}" has shape`);
    },
  },
  {
    name: 'safetensors duplicate key',
    corrupt: (dir) => {
      const s = readSt(st(dir));
      const [first] = byOffset(s);
      const text = JSON.stringify(s.header);
      writeSt(st(dir), `{${JSON.stringify(first)}:${JSON.stringify(s.header[first])},${text.slice(1)}`, s.body);
      return new RegExp(`model\\.safetensors: the header names "${esc(first)}" twice`);
    },
  },
  {
    name: 'safetensors extra tensor',
    corrupt: (dir) => {
      const s = readSt(st(dir));
      s.header['zz.extra'] = { dtype: 'F32', shape: [1], data_offsets: [s.body.length, s.body.length + 4] };
      writeSt(st(dir), JSON.stringify(s.header), Buffer.concat([s.body, Buffer.alloc(4)]));
      return /model\.safetensors: tensor "zz\.extra"/;
    },
  },
  {
    name: 'safetensors missing tensor',
    corrupt: (dir) => {
      const s = readSt(st(dir));
      const name = byOffset(s).find((k) => /weight$/.test(k) && !/head|lm_/.test(k))!;
      const [from, to] = s.header[name].data_offsets;
      delete s.header[name];
      for (const e of Object.values(s.header)) if (e.data_offsets[0] >= to) e.data_offsets = [e.data_offsets[0] - (to - from), e.data_offsets[1] - (to - from)];
      writeSt(st(dir), JSON.stringify(s.header), Buffer.concat([s.body.subarray(0, from), s.body.subarray(to)]));
      // In these tiny models one matrix can be half the weights: then the size check, which runs
      // before anything is allocated, refuses the folder first.
      return new RegExp(`model\\.safetensors.*"${esc(name)}"|config\\.json .* describes [\\d,]+ parameters, but \\S*model\\.safetensors holds`);
    },
  },
  {
    name: 'safetensors trailing bytes',
    corrupt: (dir) => {
      writeFileSync(st(dir), Buffer.concat([readFileSync(st(dir)), Buffer.alloc(8)]));
      return /model\.safetensors: 8 trailing bytes/;
    },
  },
  {
    name: 'safetensors NaN weight',
    corrupt: (dir) => {
      const s = readSt(st(dir));
      const name = byOffset(s).find((k) => s.header[k].dtype === 'F32' && /weight$/.test(k))!;
      s.body.writeFloatLE(Number.NaN, s.header[name].data_offsets[0] + 4);
      writeSt(st(dir), JSON.stringify(s.header), s.body);
      return new RegExp(`model\\.safetensors: "${esc(name)}" holds a non-finite value \\(NaN\\) at index 1`);
    },
  },
  {
    name: 'tokenizer.json not JSON',
    corrupt: (dir) => {
      writeFileSync(join(dir, 'tokenizer.json'), '{"model": {');
      return /tokenizer\.json: not valid JSON/;
    },
  },
  {
    name: 'tokenizer.json not UTF-8',
    corrupt: (dir) => {
      const f = join(dir, 'tokenizer.json');
      const b = readFileSync(f);
      b[b.indexOf('"vocab"') + 12] = 0xff;
      writeFileSync(f, b);
      return /tokenizer\.json.*UTF-8/;
    },
  },
  {
    name: 'tokenizer ids beyond the vocabulary',
    corrupt: (dir) => {
      const f = join(dir, 'tokenizer.json');
      const t = JSON.parse(readFileSync(f, 'utf8'));
      const tokens = Object.keys(t.model.vocab);
      t.model.vocab[tokens[tokens.length - 1]] = 99_999;
      writeFileSync(f, JSON.stringify(t));
      return /tokenizer\.json.*99999|tokenizer\.json.*vocab/;
    },
  },
];

/** The commands that read a model folder, with the kinds of folder each takes. */
const FOLDER_COMMANDS: { name: string; kinds: Kind[]; args: (model: string, work: string, root: string) => string[] }[] = [
  { name: 'predict', kinds: ['run', 'grown'], args: (m) => ['predict', m, '--task', 'toy', 'a good film'] },
  { name: 'eval', kinds: ['run', 'grown'], args: (m) => ['eval', m] },
  { name: 'tasks', kinds: ['run', 'grown'], args: (m) => ['tasks', m] },
  { name: 'inspect', kinds: ['run', 'pre'], args: (m) => ['inspect', m] },
  { name: 'export', kinds: ['run', 'grown', 'pre'], args: (m, w) => ['export', m, '--out', join(w, 'exported')] },
  {
    name: 'add-task',
    kinds: ['run', 'grown', 'pre'],
    args: (m, _w, root) => ['add-task', m, '--task', join(root, 'task2.json'), '--children', '1', '--steps', '1'],
  },
  { name: 'train --base', kinds: ['pre', 'run'], args: (_m, w) => ['train', '--config', join(w, 'train.json')] },
];

// ------------------------------------------------------------------ broken task files

interface TaskFileCase {
  name: string;
  file: string;
  text: string;
  expect: RegExp;
}

const TASK_FILE_CASES: TaskFileCase[] = [
  {
    name: 'JSONL line not JSON',
    file: 'broken.jsonl',
    text: '{"text": "fine", "label": "pos"}\n{"text": "x", "label": \n',
    expect: /broken\.jsonl line 2: not valid JSON/,
  },
  {
    name: 'JSONL line without its text',
    file: 'broken.jsonl',
    text: '{"text": "fine", "label": "pos"}\n{"txt": "x", "label": "neg"}\n',
    expect: /broken\.jsonl line 2: missing field "text"/,
  },
  {
    name: 'CSV quote never closed',
    file: 'broken.csv',
    text: 'text,label\nfine,pos\n"bad,neg\nok,pos\n',
    expect: /broken\.csv line 3: unterminated quoted field \(field "text"/,
  },
  { name: 'empty task file', file: 'broken.jsonl', text: '', expect: /broken\.jsonl.*(empty|no examples)/ },
];

// ------------------------------------------------------------------ the test

describe('hostile input through every command that reads it', () => {
  let root: string;
  before(() => {
    root = mkdtempSync(join(tmpdir(), 'pw-hostile-'));
    // pre/model, run/model (tasks toy and tags) and grown (toy2 added), with pre.json, train.json,
    // task2.json and toy.jsonl beside them.
    makeFolders(root);
  });
  after(() => rmSync(root, { recursive: true, force: true }));

  const source = (k: Kind) => join(root, k === 'pre' ? 'pre/model' : k === 'run' ? 'run/model' : 'grown');

  /** Runs `args(work)` in a fresh case folder prepared by `prepare`; checks exit 2, message, nothing changed. */
  async function expectRefused(label: string, prepare: (work: string) => RegExp, args: (work: string) => string[]): Promise<void> {
    const work = join(root, 'cases', createHash('sha1').update(label).digest('hex').slice(0, 12));
    mkdirSync(work, { recursive: true });
    try {
      const expect = prepare(work);
      const before = treeHash(work);
      const r = await cli(work, args(work));
      assert.equal(r.status, 2, `${label}: exit ${r.status}: ${r.stderr}`);
      assert.match(r.stderr, expect, `${label}: ${r.stderr}`);
      assert.match(r.stderr, /^pathwise: [^\n]+\n$/, `${label}: one line, no stack trace: ${r.stderr}`);
      assert.doesNotMatch(r.stderr, /internal error/, label);
      assert.equal(treeHash(work), before, `${label}: no file changed, nothing left behind`);
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  }

  /** Runs the jobs two at a time (the machine's cores), reporting every failure at once. */
  async function all(t: { diagnostic: (s: string) => void }, jobs: (() => Promise<void>)[]): Promise<void> {
    const failures: string[] = [];
    let next = 0;
    const worker = async () => {
      while (next < jobs.length) {
        const job = jobs[next++];
        await job().catch((e: Error) => failures.push(e.message));
      }
    };
    await Promise.all([worker(), worker()]);
    assert.deepEqual(failures, [], `${failures.length} of ${jobs.length} cases failed`);
    t.diagnostic(`${jobs.length} cases, each exit 2 with the file and field named and nothing changed`);
  }

  it('a broken model folder: every command that reads it exits 2 naming the file and field, and changes nothing', async (t) => {
    const jobs: (() => Promise<void>)[] = [];
    FOLDER_CASES.forEach((c, i) => {
      for (const cmd of FOLDER_COMMANDS) {
        // Each case on one kind of folder per command, rotating so that every kind meets every case.
        const kind = cmd.kinds[i % cmd.kinds.length];
        const label = `${c.name} (${kind} folder) under pathwise ${cmd.name}`;
        jobs.push(() =>
          expectRefused(
            label,
            (work) => {
              const model = join(work, 'model');
              cpSync(source(kind), model, { recursive: true });
              writeFileSync(
                join(work, 'train.json'),
                JSON.stringify({ ...JSON.parse(readFileSync(join(root, 'train.json'), 'utf8')), base: model, out: join(work, 'out') }),
              );
              return c.corrupt(model);
            },
            (work) => cmd.args(join(work, 'model'), work, root),
          ),
        );
      }
    });
    await all(t, jobs);
  });

  it('a broken task file: train, add-task, eval and predict --input exit 2 naming the file and line, and change nothing', async (t) => {
    const jobs: (() => Promise<void>)[] = [];
    for (const c of TASK_FILE_CASES) {
      const taskConfig = (work: string) => {
        writeFileSync(join(work, c.file), c.text);
        return { name: 'toy3', type: 'classification', train: join(work, c.file), devFraction: 0.2 };
      };
      jobs.push(() =>
        expectRefused(
          `${c.name} under pathwise train`,
          (work) => {
            const cfg = JSON.parse(readFileSync(join(root, 'train.json'), 'utf8'));
            writeFileSync(
              join(work, 'train.json'),
              JSON.stringify({ ...cfg, base: join(root, 'pre/model'), tasks: [taskConfig(work)], out: join(work, 'out') }),
            );
            return c.expect;
          },
          (work) => ['train', '--config', join(work, 'train.json')],
        ),
      );
      jobs.push(() =>
        expectRefused(
          `${c.name} under pathwise add-task`,
          (work) => {
            cpSync(source('run'), join(work, 'model'), { recursive: true });
            writeFileSync(join(work, 'task.json'), JSON.stringify(taskConfig(work)));
            return c.expect;
          },
          (work) => ['add-task', join(work, 'model'), '--task', join(work, 'task.json'), '--children', '1', '--steps', '1'],
        ),
      );
      jobs.push(() =>
        expectRefused(
          `${c.name} under pathwise eval (the model's own task file broken since training)`,
          (work) => {
            cpSync(source('run'), join(work, 'model'), { recursive: true });
            writeFileSync(join(work, c.file), c.text);
            const f = join(work, 'model', 'config.json');
            writeFileSync(f, readFileSync(f, 'utf8').replaceAll(JSON.stringify(join(root, 'toy.jsonl')), JSON.stringify(join(work, c.file))));
            return c.expect;
          },
          (work) => ['eval', join(work, 'model')],
        ),
      );
      if (c.file.endsWith('.jsonl') && c.text) {
        jobs.push(() =>
          expectRefused(
            `${c.name} under pathwise predict --input`,
            (work) => {
              cpSync(source('run'), join(work, 'model'), { recursive: true });
              writeFileSync(join(work, c.file), c.text.replace(/"label": "(pos|neg)"/g, '"id": 1'));
              return c.expect;
            },
            (work) => ['predict', join(work, 'model'), '--task', 'toy', '--input', join(work, c.file)],
          ),
        );
      }
    }
    await all(t, jobs);
  });

  it('bad arguments and outputs: exit 2 naming the argument, and nothing written', async (t) => {
    const cases: [string, string[], RegExp, ((work: string) => void)?][] = [
      ['export over its own input', ['export', 'model', '--out', 'model'], /--out model is the folder being exported/],
      ['export into its own input', ['export', 'model', '--out', 'model/copy'], /--out model\/copy is inside the folder being exported/],
      [
        'export over a file',
        ['export', 'model', '--out', 'notes.txt'],
        /--out: notes\.txt is a file, not a folder/,
        (w) => writeFileSync(join(w, 'notes.txt'), 'mine'),
      ],
      [
        'export over a folder of other things',
        ['export', 'model', '--out', 'docs'],
        /docs holds other files \(a\.txt\) and none of the files being written/,
        (w) => {
          mkdirSync(join(w, 'docs'));
          writeFileSync(join(w, 'docs', 'a.txt'), 'mine');
        },
      ],
      ['predict an empty text', ['predict', 'model', '--task', 'toy', ' '], /input 1 is empty/],
      [
        'predict a pair on a single-text task',
        ['predict', 'model', '--task', 'toy', 'a', '--pair', 'b'],
        /--pair: task "toy" is a classification task of single texts/,
      ],
      ['predict a task the model lacks', ['predict', 'model', '--task', 'nope', 'a'], /no task "nope" in model \(it has: toy, tags\)/],
      ['inspect a nonsense length', ['inspect', 'model', '--seq-len', 'abc'], /--seq-len must be an integer in \[1, 32\]/],
      [
        'add-task an unknown built-in task',
        ['add-task', 'model', '--task', 'nosuch'],
        /task config file nosuch not found \(and "nosuch" is not a built-in task/,
      ],
      [
        'add-task a learning rate off the list',
        ['add-task', 'model', '--task', 'sent', '--lrs', '5e-4,3e-3'],
        /--lrs must be one of 0\.0001, 0\.0002, 0\.0005, 0\.001, 0\.002, 0\.005, 0\.01, got "5e-4,3e-3"/,
      ],
      [
        'add-task a task already there',
        ['add-task', 'model', '--task', 'again.json'],
        /task "toy" is already in model/,
        (w) => writeFileSync(join(w, 'again.json'), JSON.stringify({ name: 'toy', type: 'classification', train: join(root, 'toy.jsonl') })),
      ],
      [
        'add-task a one-class task',
        ['add-task', 'model', '--task', 'mono.json'],
        /mono\.json: task "mono" has 1 label\(s\) \(pos\)/,
        (w) => {
          writeFileSync(join(w, 'mono.jsonl'), ['a', 'b', 'c', 'd', 'e'].map((t) => JSON.stringify({ text: t, label: 'pos' })).join('\n'));
          writeFileSync(join(w, 'mono.json'), JSON.stringify({ name: 'mono', type: 'classification', train: 'mono.jsonl' }));
        },
      ],
      [
        'pretrain into a file',
        ['pretrain', '--config', join(root, 'pre.json'), '--out', 'notes.txt/x'],
        /out: cannot write to notes\.txt\/x \(ENOTDIR/,
        (w) => writeFileSync(join(w, 'notes.txt'), 'mine'),
      ],
    ];
    await all(
      t,
      cases.map(
        ([label, args, expect, setup]) =>
          () =>
            expectRefused(
              label,
              (work) => {
                cpSync(source('run'), join(work, 'model'), { recursive: true });
                setup?.(work);
                return expect;
              },
              () => args,
            ),
      ),
    );
    // The train config's own checks: a task named twice, a built-in task that does not exist.
    for (const [tasks, expect] of [
      [['sent', 'sent'], /tasks\[1\]: task "sent" is already tasks\[0\]/],
      [['nosuch'], /tasks\[0\]: no built-in task "nosuch"/],
    ] as [string[], RegExp][]) {
      await expectRefused(
        `train with tasks ${tasks.join(', ')}`,
        (work) => {
          writeFileSync(join(work, 'train.json'), JSON.stringify({ tasks, out: join(work, 'out') }));
          return expect;
        },
        (work) => ['train', '--config', join(work, 'train.json')],
      );
    }
  });
});
