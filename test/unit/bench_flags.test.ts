// The benches' flag reader: values with their defaults, clear errors naming the flag, and the
// usage text `--help` prints.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { benchFlags, flagUsage, headerComment } from '../../bench/common.js';

const spec = {
  seeds: { type: 'string', default: '0,1,2' },
  steps: { type: 'number', default: 100, integer: true, min: 1 },
  rate: { type: 'number', default: 0.5, above: 0, max: 1 },
  rank: { type: 'string', default: '32', choices: ['0', '16', '32'] },
  report: { type: 'boolean' },
} as const;

test('benchFlags: defaults, given values, switches', () => {
  assert.deepEqual(benchFlags(spec, []), { seeds: '0,1,2', steps: 100, rate: 0.5, rank: '32', report: false });
  assert.deepEqual(benchFlags(spec, ['--steps', '7', '--rate=1', '--rank', '16', '--report', '--seeds', '3']), {
    seeds: '3',
    steps: 7,
    rate: 1,
    rank: '16',
    report: true,
  });
});

test('benchFlags: each bad flag is refused with its name', () => {
  assert.throws(() => benchFlags(spec, ['--steps', '0']), /^Error: --steps must be an integer >= 1, got "0"$/);
  assert.throws(() => benchFlags(spec, ['--steps', '2.5']), /--steps must be an integer >= 1/);
  assert.throws(() => benchFlags(spec, ['--rate', '0']), /^Error: --rate must be a number > 0 and <= 1, got "0"$/);
  assert.throws(() => benchFlags(spec, ['--rank', '8']), /^Error: --rank must be one of 0, 16, 32, got "8"$/);
  assert.throws(() => benchFlags(spec, ['--stpes', '3']), /'--stpes'.*\(--help lists the flags\)$/);
  assert.throws(() => benchFlags(spec, ['extra']), /extra.*\(--help lists the flags\)$/);
  assert.throws(() => benchFlags(spec, ['--steps']), /--steps.*\(--help lists the flags\)$/);
});

test('flagUsage: one line per flag with its kind, bounds and default', () => {
  assert.equal(
    flagUsage(spec),
    [
      'flags:',
      '  --seeds                text  (default 0,1,2)',
      '  --steps                integer >= 1  (default 100)',
      '  --rate                 number > 0, <= 1  (default 0.5)',
      '  --rank                 0|16|32  (default 32)',
      '  --report               switch',
    ].join('\n'),
  );
});

test("headerComment: the source's leading // lines, and nothing after them", () => {
  assert.equal(headerComment('// What it measures.\n//\n//   npm run bench:x\n\nimport x from "y";\n// later\n'), 'What it measures.\n\n  npm run bench:x');
  assert.equal(headerComment('import x from "y";\n'), '');
});
