// Errors caused by the user's input (a file, a line, a config key), as opposed to bugs. The CLI
// turns every InputError into exit code 2 with its message, having written nothing.

export class InputError extends Error {
  /** The file at fault ('' when the input is not a file, e.g. a command-line flag). */
  readonly file: string;
  /** 1-based line, when one line is at fault. */
  readonly line?: number;

  constructor(message: string, file = '', line?: number) {
    super(message);
    this.name = new.target.name;
    this.file = file;
    this.line = line;
  }
}
