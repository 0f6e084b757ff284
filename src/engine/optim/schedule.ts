// Learning-rate schedules: linear warmup, then constant, linear decay or cosine decay
// (the Hugging Face get_*_schedule_with_warmup definitions), or warm-up, stable, decay with a
// decay start the trainer may move. A schedule maps a step to a multiplier of the peak learning
// rate.

export type ScheduleKind = 'constant' | 'linear' | 'cosine';

export interface ScheduleOptions {
  kind: ScheduleKind;
  warmupSteps: number;
  totalSteps: number;
  /** Floor of the decay, as a fraction of the peak (0 = decay to zero). */
  minRatio?: number;
}

export type Schedule = (step: number) => number;

const warmup = (step: number, w: number) => step / Math.max(1, w);

export function lrSchedule(o: ScheduleOptions): Schedule {
  const { kind, warmupSteps: w, totalSteps: n } = o;
  const floor = o.minRatio ?? 0;
  if (!(w >= 0 && n >= w)) throw new RangeError(`lrSchedule: need 0 <= warmupSteps <= totalSteps, got ${w} and ${n}`);
  return (step: number) => {
    if (step < w) return warmup(step, w);
    if (kind === 'constant') return 1;
    const progress = (step - w) / Math.max(1, n - w);
    const decay = kind === 'linear' ? Math.max(0, 1 - progress) : Math.max(0, 0.5 * (1 + Math.cos(Math.PI * progress)));
    return floor + (1 - floor) * decay;
  };
}

/**
 * Warm-up, stable, decay: linear warm-up, the peak until `decayFrom()`, then linear decay to 0
 * over `decaySteps` (the multiplier at decayFrom() + i is 1 - i / decaySteps). `decayFrom` is read
 * at every step, so the trainer can bring the decay forward while it runs (train_path.ts: where
 * dev stops rising).
 */
export function warmupStableDecay(o: { warmupSteps: number; decaySteps: number; decayFrom: () => number }): Schedule {
  const { warmupSteps: w, decaySteps: d } = o;
  if (!(w >= 0 && d >= 1)) throw new RangeError(`warmupStableDecay: need warmupSteps >= 0 and decaySteps >= 1, got ${w} and ${d}`);
  return (step: number) => (step < w ? warmup(step, w) : Math.max(0, 1 - Math.max(0, step - o.decayFrom()) / d));
}
