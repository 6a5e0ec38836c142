/**
 * A tune's `optimizer { ... }` block: parsed and checked with located diagnostics, carried on
 * the tune report, shown by `milec plan`, and resolved against the command line and defaults.
 */
import { describe, expect, it } from 'vitest';
import { planTraining, printTrainingPlan } from '../../compiler/cost/report.ts';
import { resolveOptimizer, SWEEP_OPTIMIZER_DEFAULTS, TRAIN_OPTIMIZER_DEFAULTS } from '../../runtime/train-setup.ts';
import { at, compileOk, compileText } from '../compiler/helpers.ts';

const src = (body: string) => `use std.nn
model R1 {
  config { vocab = 16, dim = 8 }
  input ids: i32[B, 5]
  embed = Embedding(vocab, dim)
  forward { loss mean(embed(ids)) }
}
tune t for R1 {
  train embed
  ${body}
}
`;

describe('tune optimizer block', () => {
  it('carries every setting on the tune report', () => {
    const fe = compileOk(src('optimizer { lr = 1e-2, weight_decay = 0.0, schedule = cosine, warmup = 10 }'), { tune: 't' });
    expect(fe.tune.optimizer).toEqual({ lr: 0.01, weightDecay: 0, schedule: 'cosine', warmup: 10 });
  });

  it('takes any subset, separated by newlines', () => {
    const fe = compileOk(src('optimizer {\n    lr = 2e-4\n    warmup = 3\n  }'), { tune: 't' });
    expect(fe.tune.optimizer).toEqual({ lr: 2e-4, warmup: 3 });
  });

  it('is absent without the block', () => {
    expect(compileOk(src(''), { tune: 't' }).tune.optimizer).toBeUndefined();
  });

  it('milec plan shows it in one line', () => {
    const fe = compileOk(src('optimizer { lr = 1e-2, schedule = cosine }'), { tune: 't', training: true });
    const plan = planTraining(fe, { bindings: { B: 2 } });
    expect(plan.optimizer).toEqual({ lr: 0.01, schedule: 'cosine' });
    const lines = printTrainingPlan(plan).split('\n');
    expect(lines.filter((l) => l.startsWith('optimizer:'))).toEqual([
      "optimizer: lr 0.01, cosine schedule (the tune's; --lr, --weight-decay, --schedule and --warmup override)",
    ]);
    expect(printTrainingPlan(planTraining(compileOk(src(''), { tune: 't', training: true }), { bindings: { B: 2 } }))).not.toContain(
      'optimizer:',
    );
  });

  const cases: { name: string; body: string; message: string; where: string; help?: string }[] = [
    {
      name: 'an unknown key',
      body: 'optimizer { lrr = 1e-2 }',
      message: 'unknown optimizer setting `lrr`',
      where: 'lrr',
      help: 'did you mean `lr`?',
    },
    {
      name: 'an unknown key with no near name',
      body: 'optimizer { momentum = 0.9 }',
      message: 'unknown optimizer setting `momentum`',
      where: 'momentum',
      help: 'the settings are `lr`, `weight_decay`, `schedule`, `warmup`',
    },
    { name: 'lr of 0', body: 'optimizer { lr = 0.0 }', message: 'optimizer setting `lr` must be greater than 0, got 0', where: '0.0' },
    {
      name: 'negative lr',
      body: 'optimizer { lr = -1e-3 }',
      message: 'optimizer setting `lr` must be greater than 0, got -0.001',
      where: '-1e-3',
    },
    {
      name: 'lr of the wrong type',
      body: 'optimizer { lr = true }',
      message: 'optimizer setting `lr` is a number, got bool true',
      where: 'true',
    },
    {
      name: 'fractional warm-up',
      body: 'optimizer { warmup = 1.5 }',
      message: 'optimizer setting `warmup` is a non-negative int (steps), got float 1.5',
      where: '1.5',
    },
    {
      name: 'a misspelt schedule',
      body: 'optimizer { schedule = cosin }',
      message: 'optimizer setting `schedule` is `constant` or `cosine`, not `cosin`',
      where: 'cosin',
      help: 'did you mean `cosine`?',
    },
    {
      name: 'a numeric schedule',
      body: 'optimizer { schedule = 1 }',
      message: 'optimizer setting `schedule` is `constant` or `cosine`',
      where: '1 }',
    },
    {
      name: 'negative weight decay',
      body: 'optimizer { weight_decay = -0.1 }',
      message: 'optimizer setting `weight_decay` must not be negative, got -0.1',
      where: '-0.1',
    },
    { name: 'a key set twice', body: 'optimizer { lr = 1e-2, lr = 1e-3 }', message: 'optimizer setting `lr` is set twice', where: 'lr' },
    {
      name: 'two blocks',
      body: 'optimizer { lr = 1e-2 }\n  optimizer { warmup = 2 }',
      message: 'tune `t` has two `optimizer` blocks',
      where: 'optimizer',
    },
    {
      name: 'a misspelt block',
      body: 'optimiser { lr = 1e-2 }',
      message: 'unknown tune block `optimiser`: the only block a tune takes is `optimizer { ... }`',
      where: 'optimiser',
      help: 'did you mean `optimizer`?',
    },
  ];
  for (const c of cases) {
    it(`reports ${c.name} where it is`, () => {
      const text = src(c.body);
      const { fe, diagnostics } = compileText(text, { tune: 't' });
      expect(fe).toBeUndefined();
      expect(diagnostics).toHaveLength(1);
      const d = diagnostics[0]!;
      expect(d.message).toBe(c.message);
      const tuneAt = text.indexOf('tune t');
      const nth = c.name === 'a key set twice' ? 1 : c.name === 'two blocks' ? 1 : 0;
      const head = text.slice(0, tuneAt);
      const skip = head.split(c.where).length - 1;
      expect({ line: d.span.line, col: d.span.col }).toEqual(at(text, c.where, skip + nth));
      if (c.help) expect(d.help).toBe(c.help);
    });
  }
});

describe('resolveOptimizer', () => {
  const tune = { lr: 1e-2, schedule: 'cosine' as const, warmup: 10 };
  it('uses the tune’s settings where the command line sets none, the defaults for the rest', () => {
    expect(resolveOptimizer({}, tune, TRAIN_OPTIMIZER_DEFAULTS)).toEqual({ lr: 1e-2, schedule: 'cosine', warmup: 10, weightDecay: 0 });
  });
  it('lets the command line override each setting', () => {
    expect(resolveOptimizer({ lr: 5e-4, warmup: 0, weightDecay: 0.1, schedule: 'constant' }, tune, TRAIN_OPTIMIZER_DEFAULTS)).toEqual({
      lr: 5e-4,
      schedule: 'constant',
      warmup: 0,
      weightDecay: 0.1,
    });
    expect(resolveOptimizer({ lr: undefined, warmup: 2 }, tune, SWEEP_OPTIMIZER_DEFAULTS)).toEqual({
      lr: 1e-2,
      schedule: 'cosine',
      warmup: 2,
      weightDecay: 0,
    });
  });
  it('keeps each command’s defaults without a tune block', () => {
    expect(resolveOptimizer({}, undefined, TRAIN_OPTIMIZER_DEFAULTS)).toEqual({
      lr: 3e-3,
      schedule: 'constant',
      warmup: 0,
      weightDecay: 0,
    });
    expect(resolveOptimizer({}, undefined, SWEEP_OPTIMIZER_DEFAULTS)).toEqual({
      lr: 1e-3,
      schedule: 'constant',
      warmup: 0,
      weightDecay: 0,
    });
  });
});
