// Exponential moving average with bias correction, as TensorBoard draws smoothed curves.
// Pure: numbers in, numbers out. Missing (null) and non-finite values pass through untouched
// and do not disturb the average; the first points are debiased so the curve starts on the data.

/**
 * @param {(number|null)[]} values
 * @param {number} weight  0 (no smoothing) ... <1 (heavy smoothing)
 * @returns {(number|null)[]}
 */
export function ema(values, weight) {
  const w = Math.min(Math.max(Number(weight) || 0, 0), 0.999);
  if (w === 0) return values.slice();
  const out = new Array(values.length);
  let last = 0;
  let n = 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (v === null || v === undefined || !Number.isFinite(v)) {
      out[i] = v === undefined ? null : v;
      continue;
    }
    last = last * w + (1 - w) * v;
    n += 1;
    out[i] = last / (1 - Math.pow(w, n));
  }
  return out;
}
