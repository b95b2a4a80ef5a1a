/** Signal helpers for the audio tests (test-only). */

export function sine(rateHz: number, freqHz: number, seconds: number, amplitude = 0.5, phase = 0): Int16Array {
  const n = Math.round(rateHz * seconds);
  const s = new Int16Array(n);
  for (let i = 0; i < n; i++) s[i] = Math.round(amplitude * 32767 * Math.sin((2 * Math.PI * freqHz * i) / rateHz + phase));
  return s;
}

/** Deterministic white noise (LCG), amplitude in [-a, a]. */
export function noise(n: number, amplitude = 0.3, seed = 12345): Int16Array {
  const s = new Int16Array(n);
  let x = seed >>> 0;
  for (let i = 0; i < n; i++) {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    s[i] = Math.round(((x / 4294967296) * 2 - 1) * amplitude * 32767);
  }
  return s;
}

export interface SineFit {
  /** Amplitude of the fitted sine. */
  amplitude: number;
  /** Phase (radians) of the fitted sine, as a·sin(ωn + phase). */
  phase: number;
  /** Signal-to-residual ratio in dB (SINAD). */
  snrDb: number;
}

/** Least-squares fit of a sine of known frequency (plus DC) over [from, to); residual = everything else. */
export function fitSine(y: ArrayLike<number>, rateHz: number, freqHz: number, from: number, to: number): SineFit {
  let ss = 0, cc = 0, sc = 0, ys = 0, yc = 0, s1 = 0, c1 = 0, y1 = 0;
  const n = to - from;
  for (let i = from; i < to; i++) {
    const w = (2 * Math.PI * freqHz * i) / rateHz;
    const s = Math.sin(w), c = Math.cos(w), v = y[i] as number;
    ss += s * s; cc += c * c; sc += s * c; ys += v * s; yc += v * c; s1 += s; c1 += c; y1 += v;
  }
  // solve the 3×3 normal equations for [A (sin), B (cos), D (dc)]
  const m = [
    [ss, sc, s1],
    [sc, cc, c1],
    [s1, c1, n],
  ];
  const r = [ys, yc, y1];
  const sol = solve3(m, r);
  const [A, B, D] = sol;
  let ps = 0, pe = 0;
  for (let i = from; i < to; i++) {
    const w = (2 * Math.PI * freqHz * i) / rateHz;
    const f = A * Math.sin(w) + B * Math.cos(w);
    ps += f * f;
    const e = (y[i] as number) - f - D;
    pe += e * e;
  }
  return { amplitude: Math.hypot(A, B), phase: Math.atan2(B, A), snrDb: 10 * Math.log10(ps / pe) };
}

function solve3(m: number[][], r: number[]): [number, number, number] {
  const a = m.map((row, i) => [...row, r[i] as number]);
  for (let c = 0; c < 3; c++) {
    let p = c;
    for (let i = c + 1; i < 3; i++) if (Math.abs(a[i]![c]!) > Math.abs(a[p]![c]!)) p = i;
    [a[c], a[p]] = [a[p]!, a[c]!];
    for (let i = 0; i < 3; i++) {
      if (i === c) continue;
      const f = a[i]![c]! / a[c]![c]!;
      for (let k = c; k < 4; k++) a[i]![k]! -= f * a[c]![k]!;
    }
  }
  return [a[0]![3]! / a[0]![0]!, a[1]![3]! / a[1]![1]!, a[2]![3]! / a[2]![2]!];
}

/** Amplitude of the component at freqHz over [from, to) (projection), in the signal's units. */
export function toneAmplitude(y: ArrayLike<number>, rateHz: number, freqHz: number, from: number, to: number): number {
  let s = 0, c = 0;
  for (let i = from; i < to; i++) {
    const w = (2 * Math.PI * freqHz * i) / rateHz;
    s += (y[i] as number) * Math.sin(w);
    c += (y[i] as number) * Math.cos(w);
  }
  return (2 * Math.hypot(s, c)) / (to - from);
}

export function rms(y: ArrayLike<number>, from = 0, to = y.length): number {
  let p = 0;
  for (let i = from; i < to; i++) p += (y[i] as number) ** 2;
  return Math.sqrt(p / Math.max(1, to - from));
}

export function concatInt16(parts: readonly Int16Array[]): Int16Array {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Int16Array(n);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}
