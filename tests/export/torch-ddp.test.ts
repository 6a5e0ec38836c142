/**
 * train.py of `milec export --torch` with torch.distributed: two gloo ranks (started with
 * MASTER_ADDR/MASTER_PORT/WORLD_SIZE/RANK set, as Debian's torchrun crashes under Python 3.11),
 * each taking half of every exported global batch, end with the same adapter as one process
 * taking the whole batch; training moved it off its start, and milec reads the run folder back:
 * the peft folder (as `milec train --adapter`) and adapter.safetensors (as `milec eval --checkpoint`).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { specialize } from '../../compiler/ir/specialize.ts';
import { paramsWithCheckpoint, readEvalCheckpoint } from '../../runtime/eval/checkpoint.ts';
import { adapterLayout, loadAdapter } from '../../runtime/peft-format.ts';
import { type Exported, exportTune, python, relError, tensorsOf, torchMissing } from './helpers.ts';

const STEPS = 3;
const missing = torchMissing();
if (missing) console.warn(`skipping the PyTorch data-parallel test: ${missing}`);

/** A TCP port free right now (for the gloo rendezvous). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

describe.skipIf(missing !== undefined)('export --torch: data-parallel training', () => {
  let dir: string;
  let exported: Exported;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'milec-torch-ddp-'));
    exported = await exportTune('lora', join(dir, 'pkg'), { batch: 4, steps: STEPS, lr: 3e-2 });
  }, 30_000);
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it(`2 gloo ranks and 1 process with the doubled batch give the same adapter after ${STEPS} steps`, async () => {
    const train = join(dir, 'pkg', 'train.py');
    const port = String(await freePort());
    const rank = (r: number) =>
      python([train, '--out', join(dir, 'two'), '--log-every', '1'], {
        MASTER_ADDR: '127.0.0.1',
        MASTER_PORT: port,
        WORLD_SIZE: '2',
        RANK: String(r),
        MILEC_DEVICE: 'cpu',
      });
    const [one, two] = await Promise.all([
      python([train, '--out', join(dir, 'one'), '--log-every', '1'], { MILEC_DEVICE: 'cpu' }),
      rank(0),
      rank(1),
    ]);
    const lossesOf = (out: string) =>
      out
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as { loss?: number })
        .filter((r) => r.loss !== undefined)
        .map((r) => r.loss!);
    // The mean over ranks of each half-batch loss is the whole batch's loss.
    const [l1, l2] = [lossesOf(one), lossesOf(two)];
    expect(l1).toHaveLength(STEPS);
    for (let s = 0; s < STEPS; s++) expect(Math.abs(l1[s]! - l2[s]!), `step ${s + 1}: ${l1[s]} vs ${l2[s]}`).toBeLessThan(1e-5 * l1[0]!);

    const a = await tensorsOf(join(dir, 'one', 'adapter', 'adapter_model.safetensors'));
    const b = await tensorsOf(join(dir, 'two', 'adapter', 'adapter_model.safetensors'));
    expect([...b.keys()].sort()).toEqual([...a.keys()].sort());
    for (const [k, v] of a) expect(relError(b.get(k)!, v), k).toBeLessThan(1e-4);

    // milec reads the folder back (as `milec eval --adapter` does), and training moved every tensor.
    const { fe, params } = exported;
    const loaded = await loadAdapter(join(dir, 'two', 'adapter'), adapterLayout(fe, { tune: 'x_lora' }));
    expect(loaded.size).toBe(a.size);
    for (const [name, v] of loaded) expect(relError(v, params.get(name)!), `${name} moved`).toBeGreaterThan(1e-3);
    // The run folder is milec train's: `milec eval --checkpoint` reads adapter.safetensors with its metadata.
    const ckpt = await readEvalCheckpoint(join(dir, 'two'));
    expect([ckpt.model, ckpt.tune, ckpt.seed]).toEqual(['MissTiny', 'x_lora', 1]);
    const evaluated = paramsWithCheckpoint(specialize(fe.infer, { B: 4 }), ckpt, ckpt.seed!);
    for (const [name, v] of loaded) expect(evaluated.get(name), name).toEqual(v);
  }, 40_000);
});
