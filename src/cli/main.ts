#!/usr/bin/env node
// The `pathwise` command line.

import { runDemo } from './demo.js';

const USAGE = `usage: pathwise <command>

commands:
  demo     train a small two-layer model on the real \`sent\` task (the quickstart job)
`;

function main(argv: string[]): number {
  const [cmd] = argv;
  switch (cmd) {
    case 'demo':
      runDemo();
      return 0;
    case undefined:
    case '-h':
    case '--help':
      process.stdout.write(USAGE);
      return cmd === undefined ? 2 : 0;
    default:
      process.stderr.write(`pathwise: unknown command "${cmd}"\n\n${USAGE}`);
      return 2;
  }
}

process.exitCode = main(process.argv.slice(2));
