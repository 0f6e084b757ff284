// `pathwise tasks <model> [--json]`: the tasks of a model folder with their paths (component ids
// in forward order, adapters marked +), activated parameters (those one forward pass of the task
// touches) and added parameters (those created for the task). A dense `pathwise train` folder is
// shown as the path system add-task would make of it.

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
    `${rest[0]}: ${converted ? 'a dense `pathwise train` model (shown as a path system)' : 'a path system'}, ` +
      `${rows.length} task(s), ${system.store.size} components, ${n(system.numParameters())} parameters\n\n`,
  );
  const head = ['task', 'type', 'activated', 'added', 'path'];
  const cells = rows.map((r) => [r.task, r.type, n(r.activated), n(r.added), r.path]);
  const width = head.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i].length)));
  const line = (c: string[]) => c.map((x, i) => (i === 2 || i === 3 ? x.padStart(width[i]) : i === c.length - 1 ? x : x.padEnd(width[i]))).join('  ');
  process.stdout.write([line(head), ...cells.map(line)].join('\n') + '\n');
}
