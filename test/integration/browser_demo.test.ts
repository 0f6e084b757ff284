// The browser demo (examples/browser/) in a real browser: Debian's Chromium, driven headless by
// puppeteer-core, loads an exported task from the demo server and classifies in the page with
// transformers.js and onnxruntime-web's WebAssembly. Its labels and scores must be Pathwise's own,
// nothing may be fetched from another origin, and the server must refuse paths that leave its folders.

import test from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import puppeteer, { type Browser } from 'puppeteer-core';
import { loadModel, saveModel } from '../../src/model/index.js';
import { cliSync, WORDS } from '../cli_folders.js';
import { build } from '../mixed_models.js';
import { ROOT } from '../helpers.js';

const CHROMIUM = '/usr/bin/chromium';

interface DemoServer {
  url: string;
  close: () => Promise<void>;
}

type StartDemoServer = (o: { exportDir: string; port: number }) => Promise<DemoServer>;

interface Scored {
  label: string;
  score: number;
}

declare global {
  interface Window {
    classify: (texts: string[]) => Promise<Scored[][]>;
  }
}

/** A GET with the path sent as written: fetch() would resolve `..` segments before sending. */
function rawGet(base: string, path: string): Promise<{ status: number; body: string }> {
  const { hostname, port } = new URL(base);
  return new Promise((resolve, reject) => {
    const req = request({ host: hostname, port, path, method: 'GET' }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

test('the browser demo classifies in Chromium as Pathwise does, from its own origin only', async () => {
  assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing: install Debian's chromium (scripts/setup.sh does: apt-get install chromium)`);
  const root = mkdtempSync(join(tmpdir(), 'pathwise-browser-'));
  let server: DemoServer | null = null;
  let browser: Browser | null = null;
  try {
    // Two classification tasks of one model: "cls" reads what a BERT classifier reads; "lex" has an
    // n-gram bag and a Naive Bayes prior, whose inputs the page hashes from the words itself.
    const run = join(root, 'model');
    saveModel(run, build({}));
    const out = join(root, 'onnx');
    cliSync(root, 'export', run, '--format', 'onnx', '--out', out, '--task', 'cls,lex');
    const { startDemoServer } = (await import(pathToFileURL(join(ROOT, 'examples', 'browser', 'serve.mjs')).href)) as { startDemoServer: StartDemoServer };
    server = await startDemoServer({ exportDir: out, port: 0 });
    const origin = new URL(server.url).origin;

    for (const path of [
      '/models/../../package.json',
      '/models/cls/%2e%2e/%2e%2e/package.json',
      '/pathwise/export/..%2f..%2f..%2fpackage.json',
      '/models/..%2f..%2fpackage.json',
      '/vendor/ort/..%2f..%2fpackage.json',
    ]) {
      const r = await rawGet(server.url, path);
      assert.ok(r.status === 400 || r.status === 404, `GET ${path}: status ${r.status}`);
      assert.equal(JSON.parse(r.body).error.status, r.status, `GET ${path}: a JSON error`);
    }

    browser = await puppeteer.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: ['--no-sandbox', '--headless=new', '--disable-gpu', '--disable-dev-shm-usage'],
    });
    const page = await browser.newPage();
    await page.setViewport({ width: 720, height: 280 });
    const elsewhere: string[] = [];
    const problems: string[] = [];
    page.on('request', (r) => {
      const u = r.url();
      if (!u.startsWith(`${origin}/`) && !u.startsWith('blob:') && !u.startsWith('data:')) elsewhere.push(u);
    });
    page.on('pageerror', (e) => problems.push(`page error: ${e instanceof Error ? e.message : String(e)}`));
    page.on('console', (m) => {
      if (m.type() === 'error') problems.push(`console: ${m.text()}`);
    });
    const texts = Array.from(
      { length: 10 },
      (_, i) => `${WORDS[(i * 7) % WORDS.length]} ${WORDS[(i * 3 + 1) % WORDS.length]} film ${WORDS[(i * 11) % WORDS.length]}`,
    );
    const model = loadModel(run);
    let ours: { label: string; scores: Record<string, number> }[] = [];
    for (const task of ['lex', 'cls']) {
      await page.goto(`${server.url}?task=${task}`);
      // Loading wasm on a busy machine can be slow; this bounds a hang, it measures nothing.
      await page.waitForSelector('body[data-ready]', { timeout: 180_000 });
      const ready = await page.evaluate(() => [document.body.dataset.ready, document.body.dataset.error ?? '']);
      assert.equal(ready[0], '1', `${task}: the page did not load the model: ${ready[1]} ${problems.join('; ')}`);
      const theirs = await page.evaluate((t) => window.classify(t), texts);
      ours = (await model.predict(task, texts)) as typeof ours;
      assert.equal(theirs.length, texts.length);
      texts.forEach((t, i) => {
        const p = ours[i];
        assert.deepEqual(theirs[i].map((s) => s.label).sort(), Object.keys(p.scores).sort(), `${task}, "${t}": every label, once`);
        const best = [...theirs[i]].sort((a, b) => b.score - a.score)[0];
        assert.equal(best.label, p.label, `${task}, "${t}": label`);
        for (const { label, score } of theirs[i])
          assert.ok(Math.abs(score - p.scores[label]) < 1e-4, `${task}, "${t}": ${label} ${score} against ${p.scores[label]}`);
      });
    }

    // The page as a person uses it: type, click, read the top label shown.
    const typed = texts[3];
    await page.type('#text', typed);
    await page.click('#go');
    await page.waitForFunction((t) => document.getElementById('result')?.dataset.text === t, { timeout: 60_000 }, typed);
    const shown = await page.$eval('#labels li:first-child .label', (e) => e.textContent);
    assert.equal(shown, ours[3].label, `"${typed}": the label shown`);
    if (process.env.PATHWISE_SCREENSHOT === '1') {
      const png = join(ROOT, 'docs', 'images', 'browser-demo.png');
      mkdirSync(dirname(png), { recursive: true });
      await page.screenshot({ path: png as `${string}.png` });
    }

    assert.deepEqual(elsewhere, [], 'requests that left the page’s origin');
    assert.deepEqual(problems, [], 'errors in the page');
  } finally {
    await browser?.close();
    await server?.close();
    rmSync(root, { recursive: true, force: true });
  }
});
