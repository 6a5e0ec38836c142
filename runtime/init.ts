/**
 * Seeded randomness for parameter initialization. Deterministic given the seed, so a run
 * (and a reference comparison) can be reproduced exactly.
 */
import type { InitSpec } from '../compiler/ir/graph.ts';
import { mulberry32 } from '../core/random.ts';
import { elementCount } from '../core/dim.ts';

export { mulberry32 };

/** One standard normal sample by Box–Muller (the sine half is discarded for simplicity). */
function standardNormal(rng: () => number): number {
  const u1 = 1 - rng(); // in (0, 1], so the log is finite
  const u2 = rng();
  return Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
}

/**
 * `valueOf` gives the initial values of other parameters, for inits defined in terms of
 * them (`row_norm`); `initialParams` provides it.
 */
export function initParam(
  init: InitSpec,
  shape: readonly number[],
  rng: () => number,
  valueOf?: (name: string) => ArrayLike<number> | undefined,
): Float64Array {
  const n = elementCount(shape);
  const out = new Float64Array(n);
  const uniform = (low: number, high: number) => {
    for (let i = 0; i < n; i++) out[i] = low + (high - low) * rng();
  };
  switch (init.kind) {
    case 'zeros':
      break;
    case 'ones':
      out.fill(1);
      break;
    case 'normal':
      for (let i = 0; i < n; i++) out[i] = init.mean + init.std * standardNormal(rng);
      break;
    case 'uniform':
      uniform(init.low, init.high);
      break;
    case 'kaiming_uniform': {
      // As torch.nn.init.kaiming_uniform_ with the leaky_relu gain PyTorch's Linear uses.
      const gain = Math.sqrt(2 / (1 + init.a * init.a));
      const bound = gain * Math.sqrt(3 / init.fanIn);
      uniform(-bound, bound);
      break;
    }
    case 'row_norm': {
      const src = valueOf?.(init.of);
      if (!src) throw new Error(`row_norm init needs the initial value of '${init.of}'`);
      if (n === 0 || src.length % n !== 0)
        throw new Error(`row_norm init: '${init.of}' has ${src.length} values, not a multiple of ${n} rows`);
      const cols = src.length / n;
      for (let i = 0; i < n; i++) {
        let s = 0;
        for (let j = 0; j < cols; j++) s += src[i * cols + j]! * src[i * cols + j]!;
        out[i] = Math.sqrt(s);
      }
      break;
    }
    default: {
      const never: never = init;
      throw new Error(`unknown init ${JSON.stringify(never)}`);
    }
  }
  return out;
}
