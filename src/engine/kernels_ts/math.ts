// Scalar math of the TypeScript kernels in double precision: erfc/erf, the exact and tanh GELU
// and their derivatives, and one unary op applied to one value.

import { UnaryOp } from '../kernels.js';

// Complementary error function in double precision (error < 1 ulp): a port of FreeBSD msun
// s_erf.c. Original notice, preserved as its licence requires:
//   Copyright (C) 1993 by Sun Microsystems, Inc. All rights reserved.
//   Developed at SunPro, a Sun Microsystems, Inc. business.
//   Permission to use, copy, modify, and distribute this software is freely granted,
//   provided that this notice is preserved.

const ERX = 8.45062911510467529297e-1;
const PP0 = 1.28379167095512558561e-1,
  PP1 = -3.2504210724700149937e-1,
  PP2 = -2.84817495755985104766e-2;
const PP3 = -5.77027029648944159157e-3,
  PP4 = -2.37630166566501626084e-5;
const QQ1 = 3.97917223959155352819e-1,
  QQ2 = 6.50222499887672944485e-2,
  QQ3 = 5.08130628187576562776e-3;
const QQ4 = 1.32494738004321644526e-4,
  QQ5 = -3.9602282787753681232e-6;
const PA0 = -2.36211856075265944077e-3,
  PA1 = 4.14856118683748331666e-1,
  PA2 = -3.72207876035701323847e-1;
const PA3 = 3.18346619901161753674e-1,
  PA4 = -1.10894694282396677476e-1,
  PA5 = 3.54783043256182359371e-2;
const PA6 = -2.166375594868790843e-3;
const QA1 = 1.06420880400844228286e-1,
  QA2 = 5.40397917702171048937e-1,
  QA3 = 7.18286544141962662868e-2;
const QA4 = 1.26171219808761642112e-1,
  QA5 = 1.36370839120290507362e-2,
  QA6 = 1.1984499846799107417e-2;
const RA0 = -9.86494403484714822705e-3,
  RA1 = -6.93858572707181764372e-1,
  RA2 = -1.05586262253232909814e1;
const RA3 = -6.23753324503260060396e1,
  RA4 = -1.62396669462573470355e2,
  RA5 = -1.84605092906711035994e2;
const RA6 = -8.12874355063065934246e1,
  RA7 = -9.81432934416914548592;
const SA1 = 1.96512716674392571292e1,
  SA2 = 1.376577541435190426e2,
  SA3 = 4.34565877475229228821e2;
const SA4 = 6.45387271733267880336e2,
  SA5 = 4.29008140027567833386e2,
  SA6 = 1.08635005541779435134e2;
const SA7 = 6.57024977031928170135,
  SA8 = -6.04244152148580987438e-2;
const RB0 = -9.86494292470009928597e-3,
  RB1 = -7.99283237680523006574e-1,
  RB2 = -1.77579549177547519889e1;
const RB3 = -1.60636384855821916062e2,
  RB4 = -6.37566443368389627722e2,
  RB5 = -1.02509513161107724954e3;
const RB6 = -4.83519191608651397019e2;
const SB1 = 3.03380607434824582924e1,
  SB2 = 3.25792512996573918826e2,
  SB3 = 1.53672958608443695994e3;
const SB4 = 3.19985821950859553908e3,
  SB5 = 2.55305040643316442583e3,
  SB6 = 4.74528541206955367215e2;
const SB7 = -2.24409524465858183362e1;

const wordF64 = new Float64Array(1);
const wordU32 = new Uint32Array(wordF64.buffer);
const HI = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1 ? 1 : 0;
const LO = 1 - HI;

function erfcTail(ix: number, x: number): number {
  const ax = Math.abs(x);
  if (ix < 0x3ff40000) {
    // 0.84375 <= |x| < 1.25
    const s = ax - 1;
    const p = PA0 + s * (PA1 + s * (PA2 + s * (PA3 + s * (PA4 + s * (PA5 + s * PA6)))));
    const q = 1 + s * (QA1 + s * (QA2 + s * (QA3 + s * (QA4 + s * (QA5 + s * QA6)))));
    return 1 - ERX - p / q;
  }
  const s = 1 / (ax * ax);
  let r: number;
  let q: number;
  if (ix < 0x4006db6d) {
    // |x| < 1/0.35
    r = RA0 + s * (RA1 + s * (RA2 + s * (RA3 + s * (RA4 + s * (RA5 + s * (RA6 + s * RA7))))));
    q = 1 + s * (SA1 + s * (SA2 + s * (SA3 + s * (SA4 + s * (SA5 + s * (SA6 + s * (SA7 + s * SA8)))))));
  } else {
    r = RB0 + s * (RB1 + s * (RB2 + s * (RB3 + s * (RB4 + s * (RB5 + s * RB6)))));
    q = 1 + s * (SB1 + s * (SB2 + s * (SB3 + s * (SB4 + s * (SB5 + s * (SB6 + s * SB7))))));
  }
  wordF64[0] = ax;
  wordU32[LO] = 0;
  const z = wordF64[0];
  return (Math.exp(-z * z - 0.5625) * Math.exp((z - ax) * (z + ax) + r / q)) / ax;
}

/** erfc(x) in double precision. */
export function erfc(x: number): number {
  wordF64[0] = x;
  const hx = wordU32[HI];
  const sign = hx >>> 31;
  const ix = hx & 0x7fffffff;
  if (ix >= 0x7ff00000) return 2 * sign + 1 / x; // NaN, +-Infinity
  if (ix < 0x3feb0000) {
    // |x| < 0.84375
    if (ix < 0x3c700000) return 1 - x;
    const z = x * x;
    const r = PP0 + z * (PP1 + z * (PP2 + z * (PP3 + z * PP4)));
    const s = 1 + z * (QQ1 + z * (QQ2 + z * (QQ3 + z * (QQ4 + z * QQ5))));
    const y = r / s;
    if (sign !== 0 || ix < 0x3fd00000) return 1 - (x + x * y);
    return 0.5 - (x - 0.5 + x * y);
  }
  if (ix < 0x403c0000) {
    // |x| < 28
    const t = erfcTail(ix, x);
    return sign !== 0 ? 2 - t : t;
  }
  return sign !== 0 ? 2 : 0;
}

/** erf(x) in double precision. */
export function erf(x: number): number {
  return Math.abs(x) < 0.84375 ? 1 - erfc(x) : x > 0 ? 1 - erfc(x) : erfc(-x) - 1;
}

/** Standard normal CDF, accurate in both tails. */
function normalCdf(x: number): number {
  return 0.5 * erfc(-x * Math.SQRT1_2);
}

const INV_SQRT_2PI = 0.3989422804014327;
const GELU_K0 = 0.7978845608028654; // sqrt(2/pi)
const GELU_K1 = 0.044715;

/** Exact GELU x * Phi(x) in double. */
export function gelu(x: number): number {
  return x * normalCdf(x);
}

export function geluGrad(x: number): number {
  return normalCdf(x) + x * INV_SQRT_2PI * Math.exp(-0.5 * x * x);
}

// GELU with the tanh approximation, 0.5 x (1 + tanh u) with u = sqrt(2/pi) (x + 0.044715 x^3),
// evaluated as the identical x * sigmoid(2u), which does not cancel for negative x.
export function geluTanh(x: number): number {
  const u = GELU_K0 * x * (1 + GELU_K1 * x * x);
  return x / (1 + Math.exp(-2 * u));
}

export function geluTanhGrad(x: number): number {
  // d/dx x s(2u) = s + 2 x s (1 - s) u'
  const x2 = x * x;
  const e = Math.exp(-2 * GELU_K0 * x * (1 + GELU_K1 * x2));
  const s = 1 / (1 + e);
  const oms = e > 1 ? 1 - s : e * s;
  return s + 2 * x * s * oms * GELU_K0 * (1 + 3 * GELU_K1 * x2);
}

/** f(x) of `unary` for one float32 x (before the store's rounding). */
export function unaryOne(op: number, x: number): number {
  switch (op) {
    case UnaryOp.Gelu:
      return gelu(x);
    case UnaryOp.Relu:
      return x > 0 || Number.isNaN(x) ? x : 0;
    case UnaryOp.Tanh:
      return Math.tanh(x);
    default:
      return geluTanh(x);
  }
}
