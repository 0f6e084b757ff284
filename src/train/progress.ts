// A one-line progress display: step, tokens/s, loss, ETA. Redraws in place on a terminal; on a
// pipe or in CI it prints a plain line every `every` steps instead.

export class Progress {
  private readonly t0 = performance.now();
  private readonly tty: boolean;
  private lastLine = 0;

  constructor(
    private readonly total: number,
    private readonly start: number,
    private readonly stream: NodeJS.WriteStream = process.stderr,
    private readonly every = 50,
    private readonly unit = 'tok',
  ) {
    this.tty = !!stream.isTTY;
  }

  /** `done`: units (tokens, examples) processed since start, for the rate. */
  update(step: number, fields: Record<string, string>, tokensDone: number): void {
    const elapsed = (performance.now() - this.t0) / 1000;
    const done = step - this.start;
    const rate = tokensDone / Math.max(elapsed, 1e-9);
    const eta = done > 0 ? (elapsed / done) * (this.total - step) : NaN;
    const width = 24;
    const filled = Math.round((width * step) / this.total);
    const bar = '█'.repeat(filled) + '░'.repeat(width - filled);
    const extra = Object.entries(fields)
      .map(([k, v]) => `${k} ${v}`)
      .join('  ');
    const line = `${bar} ${step}/${this.total}  ${Math.round(rate)} ${this.unit}/s  ${extra}  ETA ${fmt(eta)}`;
    if (this.tty) this.stream.write(`\r${line}\x1b[K`);
    else if (step - this.lastLine >= this.every || step === this.total) {
      this.stream.write(line + '\n');
      this.lastLine = step;
    }
  }

  /** Prints a message on its own line without breaking the bar. */
  log(msg: string): void {
    this.stream.write(this.tty ? `\r\x1b[K${msg}\n` : msg + '\n');
  }

  done(): void {
    if (this.tty) this.stream.write('\n');
  }
}

function fmt(s: number): string {
  if (!Number.isFinite(s)) return '--:--';
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = Math.floor(s % 60);
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${String(sec).padStart(2, '0')}` : `${m}:${String(sec).padStart(2, '0')}`;
}
