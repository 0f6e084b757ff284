// The quickstart job learns the real `sent` task: its loss falls and it beats a floor.

import { it } from 'node:test';
import assert from 'node:assert/strict';
import { runDemo } from '../../src/cli/demo.js';

it('the demo learns sent: loss falls steadily and test accuracy clears 78%', () => {
  const { testAccuracy, losses } = runDemo(() => {});
  assert.ok(losses[2] < 0.6 * losses[0], `loss after 3 epochs ${losses[2]} vs first ${losses[0]}`);
  assert.ok(losses[losses.length - 1] < losses[2], 'loss keeps falling');
  // Naive Bayes reaches 81% on this task; chance is 50%.
  assert.ok(testAccuracy >= 0.78, `test accuracy ${testAccuracy}`);
});
