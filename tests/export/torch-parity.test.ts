/**
 * `milec export --torch` against Dawn: from the same starting values and the same exported
 * batch, the generated PyTorch model (Debian's python3-torch, CPU, float32) gives the loss and
 * the trainable parameters' gradients that the compiled training plan gives on Dawn, within
 * 1e-4 relative, for LoRA (Linear and the patch Conv2d), IA3 (output and feed-forward sites),
 * prefix tuning and P-tuning v2 on MISS-tiny (shrunk with --config overrides), and the other
 * exported methods together in one tune (DoRA, sequential and parallel adapters,
 * LN tuning), and prompt tuning on the tiny classifier (examples/tiny_classifier.mile). One python
 * process checks all four exports (check.py); each test then runs its plan on Dawn.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { displayPath } from '../../core/param-path.ts';
import { type GpuContext, openDevice } from '../../runtime/device.ts';
import { Session } from '../../runtime/session.ts';
import { type Exported, exportTune, python, relError, tensorsOf, torchMissing } from './helpers.ts';

// Fewest distinct kernels first: each test compiles (cold shader cache) only the kernels the
// tests before it did not, and the first pays for everything the tunes share.
const METHODS = ['ptv2', 'prefix', 'ia3', 'lora', 'more', 'prompt'];
const BATCH = 4;
const missing = torchMissing();
if (missing) console.warn(`skipping the PyTorch parity tests: ${missing}`);

describe.skipIf(missing !== undefined)('export --torch: the same loss and adapter gradients as Dawn', () => {
  let dir: string;
  let ctx: GpuContext;
  const exported = new Map<string, Exported>();
  const checked = new Map<string, Map<string, Float32Array | Int32Array>>();

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'milec-torch-parity-'));
    for (const m of METHODS) exported.set(m, await exportTune(m, join(dir, m), { batch: BATCH, steps: 2 }));
    const folders = METHODS.map((m) => join(dir, m));
    await python([join(folders[0]!, 'check.py'), ...folders]);
    for (const m of METHODS) checked.set(m, await tensorsOf(join(dir, m, 'check.safetensors')));
    ctx = await openDevice();
  }, 60_000);
  afterAll(async () => {
    ctx?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  for (const method of METHODS) {
    it(`${method}: loss and every trainable gradient within 1e-4 relative`, async () => {
      const { fe, data, params } = exported.get(method)!;
      const torch = checked.get(method)!;
      const session = await Session.create(ctx, fe.train!, { bindings: { B: BATCH }, params });
      try {
        session.feed(data.batch(0, BATCH, 'train').inputs);
        const g = session.graph;
        const names = Object.keys(g.grads);
        const ids = [g.outputs.loss!, ...names.map((n) => g.grads[n]!)];
        const got = await session.executor.run({ read: ids });
        const loss = got.get(g.outputs.loss!)![0]!;
        const torchLoss = torch.get('loss')![0]!;
        expect(Math.abs(loss - torchLoss) / Math.abs(loss), `loss: Dawn ${loss}, PyTorch ${torchLoss}`).toBeLessThan(1e-4);
        const torchGrads = [...torch.keys()].filter((k) => k.startsWith('grad.'));
        expect(torchGrads.sort()).toEqual(names.map((n) => `grad.${displayPath(n)}`).sort());
        for (const n of names) {
          const dawn = got.get(g.grads[n]!)!;
          const ref = torch.get(`grad.${displayPath(n)}`)!;
          expect(Math.max(...Array.from(dawn, Math.abs)), `${n}: a gradient that is not zero`).toBeGreaterThan(0);
          expect(relError(ref, dawn), `${n}`).toBeLessThan(1e-4);
        }
      } finally {
        session.destroy();
      }
    });
  }
});
