// `pathwise tasks <model> [--json]`: the tasks of a model folder with their paths (component ids
// in forward order, adapters marked +, a block's low-rank update joined to it), activated
// parameters (those one forward pass of the task touches) and added parameters (those created for
// the task). Any model folder: one `pathwise
// train` wrote (every task runs the shared encoder and its own head), or one add-task has grown.
// `converted` in the JSON (kept for scripts that read it): the folder is of the first kind.

import { activatedParameters, addedParameters, describePath, folderKind, loadModel, pathComponents } from '../model/index.js';
import { parseCommandLine, UsageError } from './args.js';

const USAGE = 'usage: pathwise tasks <model folder> [--json]';

export function tasksCommand(argv: string[]): void {
  const { rest, flags } = parseCommandLine(argv, { json: 'boolean' }, USAGE);
  if (rest.length !== 1) throw new UsageError(USAGE);
  const converted = folderKind(rest[0]) !== 'components';
  const system = loadModel(rest[0]);
  const rows = [...system.tasks.values()].map(({ spec, path }) => ({
    task: spec.name,
    type: spec.type,
    path: describePath(path),
    components: pathComponents(path),
    activated: activatedParameters(system.store, path),
    added: addedParameters(system.store, path),
    hparams: path.hparams,
    ...(path.skills ? { skills: path.skills } : {}),
  }));
  if (flags.json) {
    process.stdout.write(JSON.stringify({ converted, parameters: system.numParameters(), components: system.store.size, tasks: rows }) + '\n');
    return;
  }
  const n = (x: number) => x.toLocaleString('en-US');
  process.stdout.write(
    `${rest[0]}: ${converted ? 'one encoder, each task with its own head' : 'tasks on paths of their own'}, ` +
      `${rows.length} task(s), ${system.store.size} components, ${n(system.numParameters())} parameters\n\n`,
  );
  const head = ['task', 'type', 'activated', 'added', 'path'];
  const cells = rows.map((r) => [r.task, r.type, n(r.activated), n(r.added), r.path]);
  const width = head.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i].length)));
  const line = (c: string[]) => c.map((x, i) => (i === 2 || i === 3 ? x.padStart(width[i]) : i === c.length - 1 ? x : x.padEnd(width[i]))).join('  ');
  process.stdout.write([line(head), ...cells.map(line)].join('\n') + '\n');
}
