// Learning-rate schedules: linear warmup, then constant, linear decay or cosine decay
// (the Hugging Face get_*_schedule_with_warmup definitions). A schedule maps a step to a
// multiplier of the peak learning rate.

export type ScheduleKind = 'constant' | 'linear' | 'cosine';

export interface ScheduleOptions {
  kind: ScheduleKind;
  warmupSteps: number;
  totalSteps: number;
  /** Floor of the decay, as a fraction of the peak (0 = decay to zero). */
  minRatio?: number;
}

export type Schedule = (step: number) => number;

export function lrSchedule(o: ScheduleOptions): Schedule {
  const { kind, warmupSteps: w, totalSteps: n } = o;
  const floor = o.minRatio ?? 0;
  if (!(w >= 0 && n >= w)) throw new RangeError(`lrSchedule: need 0 <= warmupSteps <= totalSteps, got ${w} and ${n}`);
  return (step: number) => {
    if (step < w) return step / Math.max(1, w);
    if (kind === 'constant') return 1;
    const progress = (step - w) / Math.max(1, n - w);
    const decay = kind === 'linear' ? Math.max(0, 1 - progress) : Math.max(0, 0.5 * (1 + Math.cos(Math.PI * progress)));
    return floor + (1 - floor) * decay;
  };
}
