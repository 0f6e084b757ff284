// Two reusable float64 scratch buffers (grown on demand, never shrunk) for the kernels' double
// precision accumulators and intermediates, so these are not allocated on every call.

let scratchA = new Float64Array(1024);
let scratchB = new Float64Array(1024);
export function f64a(n: number): Float64Array {
  if (scratchA.length < n) scratchA = new Float64Array(Math.max(n, 2 * scratchA.length));
  return scratchA;
}
export function f64b(n: number): Float64Array {
  if (scratchB.length < n) scratchB = new Float64Array(Math.max(n, 2 * scratchB.length));
  return scratchB;
}
