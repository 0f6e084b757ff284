// `pathwise inspect <model folder> [--task T] [--seq-len N] [--json]`: total parameters,
// activated parameters and activated FLOPs per token, per layer and in all, for each task.
// It reads one encoder (dense, Switch or skills); a path system has a set of paths instead, which
// `pathwise tasks` lists with each path's activated and added parameters, so inspect refuses one
// (exit 2) and says so.

import { folderKind, loadPretrained } from '../model/index.js';
import { SkillTable, account, formatAccount } from '../sparse/index.js';
import { parseCommandLine, UsageError } from './args.js';

const USAGE = 'usage: pathwise inspect <model folder> [--task T] [--seq-len N] [--json]';

export function inspectCommand(argv: string[]): void {
  const { rest, flags } = parseCommandLine(argv, { task: 'string', 'seq-len': 'string', json: 'boolean' }, USAGE);
  if (rest.length !== 1) throw new UsageError(USAGE);
  if (folderKind(rest[0]) === 'components') {
    throw new UsageError(
      `${rest[0]} is a path system (μ2Net paths, written by pathwise add-task), not a single encoder; ` +
        `use \`pathwise tasks ${rest[0]}\` for each task's path and its activated and added parameters`,
    );
  }
  const { model, config, sparse } = loadPretrained(rest[0]);
  const seqLen = flags['seq-len'] !== undefined ? Number(flags['seq-len']) : config.maxPositions;
  if (!Number.isInteger(seqLen) || seqLen < 1 || seqLen > config.maxPositions) {
    throw new UsageError(`--seq-len must be an integer in [1, ${config.maxPositions}] (the model's positions), got ${JSON.stringify(flags['seq-len'])}`);
  }
  const table = sparse.skills ? new SkillTable(sparse.skills) : null;
  const known = table ? Object.keys(sparse.skills!.table) : [];
  if (flags.task !== undefined && !known.includes(flags.task)) {
    throw new UsageError(
      table
        ? `--task: no task "${flags.task}" in ${rest[0]}'s skill table (it has: ${known.join(', ')})`
        : `--task: ${rest[0]} has no skill table, so every task activates the same parameters; leave --task out`,
    );
  }
  const tasks = flags.task ? [flags.task] : table ? known : [null];
  const accounts = tasks.map((task) => account(model, model.encoder, { task, skills: task && table ? table.skillsFor(task) : [], seqLen }));
  if (flags.json) {
    process.stdout.write(JSON.stringify(accounts) + '\n');
    return;
  }
  process.stdout.write(
    `${rest[0]}: ${config.layers} layers, d_model ${config.dModel}, vocab ${config.vocabSize}` +
      `${sparse.switch ? `, Switch ${sparse.switch.experts} experts top-${sparse.switch.topK} every ${sparse.switch.every}` : ''}` +
      `${sparse.skills ? `, skills ${sparse.skills.skills.join('/')}` : ''}\n\n`,
  );
  process.stdout.write(accounts.map(formatAccount).join('\n\n') + '\n');
}
