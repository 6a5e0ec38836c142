import { describe, expect, it } from 'vitest';
import { vqaAccuracy } from '../../runtime/metrics.ts';
import { fitQuestionPrior, priorAccuracy, priorAnswer, questionType, trainingQuestions } from '../../runtime/sweep/baseline.ts';
import {
  accuracies,
  accuracyChart,
  lossChart,
  sweepCsv,
  sweepHtml,
  sweepJson,
  sweepMarkdown,
  type SweepReport,
} from '../../runtime/sweep/report.ts';

const rep: SweepReport = {
  title: 'sweep of tiny',
  source: 'examples/x.mile',
  data: 'synthetic-vqa',
  device: 'lavapipe',
  rows: [
    {
      tune: 'f_f_lora_r4',
      trainableParams: 1234,
      totalParams: 100000,
      trainablePercent: 1.234,
      predictedPeakBytes: 2 * 1048576,
      measuredPeakBytes: 3 * 1048576,
      msPerStep: 12.34,
      steps: 3,
      ...accuracies({ open: 0.5, closed: 0.75, global: 0.625, n: 8, nOpen: 4, nClosed: 4 }),
      losses: [2, 1.5, 1],
    },
    {
      tune: 't_t_t, "quoted"',
      trainableParams: 100000,
      totalParams: 100000,
      trainablePercent: 100,
      predictedPeakBytes: 4 * 1048576,
      measuredPeakBytes: 5 * 1048576,
      msPerStep: 20,
      steps: 3,
      ...accuracies({ open: null, closed: 1, global: 1, n: 4, nOpen: 0, nClosed: 4 }),
      losses: [2, NaN, 0.5],
    },
  ],
  baseline: {
    rule: 'question prior',
    trainItems: 100,
    ...accuracies({ open: 0.25, closed: 0.5, global: 0.375, n: 8, nOpen: 4, nClosed: 4 }),
  },
};

// Rows with bare accuracies and no baseline render as before the intervals.
const noIntervals = {
  open_ci: undefined,
  closed_ci: undefined,
  global_ci: undefined,
  n_open: undefined,
  n_closed: undefined,
  n_global: undefined,
};
const bare: SweepReport = { ...rep, baseline: undefined, rows: rep.rows.map((r) => ({ ...r, ...noIntervals })) };

describe('sweep report', () => {
  it('markdown has a header and one row per tune', () => {
    const md = sweepMarkdown(bare).split('\n');
    expect(md[4]).toBe(
      '| tune | trainable | trainable % | predicted peak MiB | measured peak MiB | ms/step | open % | closed % | global % |',
    );
    expect(md[6]).toBe('| f_f_lora_r4 | 1,234 | 1.2340 | 2.0 | 3.0 | 12.3 | 50.0 | 75.0 | 62.5 |');
    expect(md[7]).toContain('| – | 100.0 | 100.0 |');
    expect(md).toHaveLength(9);
  });

  it('markdown gives each accuracy its 95 % Wilson interval and n, and ends with the baseline row', () => {
    const md = sweepMarkdown(rep).split('\n');
    expect(md[4]).toBe(
      '| tune | trainable | trainable % | predicted peak MiB | measured peak MiB | ms/step | open % (95% CI, n = 4) | closed % (95% CI, n = 4) | global % (95% CI, n = 8) |',
    );
    // Wilson, z = 1.96: 2 of 4 is 15.0–85.0, 3 of 4 30.1–95.4, 5 of 8 30.6–86.3.
    expect(md[6]).toBe('| f_f_lora_r4 | 1,234 | 1.2340 | 2.0 | 3.0 | 12.3 | 50.0 (15.0–85.0) | 75.0 (30.1–95.4) | 62.5 (30.6–86.3) |');
    expect(md[7]).toContain('| – | 100.0 (51.0–100.0) | 100.0 (51.0–100.0) |');
    expect(md[8]).toBe('| baseline | – | – | – | – | – | 25.0 (4.6–69.9) | 50.0 (15.0–85.0) | 37.5 (13.7–69.4) |');
    expect(md.slice(9)).toEqual([
      '',
      'baseline: question prior; 100 training answers.',
      'Accuracies in %, with their 95 % Wilson score intervals over the n eval items.',
      '',
    ]);
  });

  it('csv quotes fields that need it and leaves missing accuracies empty', () => {
    const csv = sweepCsv(bare).trim().split('\n');
    expect(csv[0]).toBe(
      'tune,trainable_params,total_params,trainable_percent,predicted_peak_bytes,measured_peak_bytes,ms_per_step,steps,open,closed,global,open_lo,open_hi,closed_lo,closed_hi,global_lo,global_hi,n_open,n_closed,n_global',
    );
    expect(csv[1]).toBe('f_f_lora_r4,1234,100000,1.234,2097152,3145728,12.34,3,0.5,0.75,0.625,,,,,,,,,');
    expect(csv[2]!.startsWith('"t_t_t, ""quoted""",100000')).toBe(true);
    expect(csv[2]!.endsWith(',,1,1,,,,,,,,,')).toBe(true);
    expect(csv).toHaveLength(3);
  });

  it('csv appends the intervals and counts, and a baseline line', () => {
    const csv = sweepCsv(rep).trim().split('\n');
    const f = csv[1]!.split(',');
    expect(f.slice(8, 11)).toEqual(['0.5', '0.75', '0.625']);
    expect(Number(f[11])).toBeCloseTo(0.15, 3);
    expect(Number(f[12])).toBeCloseTo(0.85, 3);
    expect(f.slice(17)).toEqual(['4', '4', '8']);
    expect(csv[3]!.startsWith('baseline,,,,,,,,0.25,0.5,0.375,')).toBe(true);
    expect(csv[3]!.endsWith(',4,4,8')).toBe(true);
  });

  // The optimizer settings `milec sweep` records on every row: one table column, four CSV columns at the end.
  const tuned: SweepReport = {
    ...rep,
    rows: [
      { ...rep.rows[0]!, data: 'synthetic', lr: 1e-3, schedule: 'constant', warmup: 0, weightDecay: 0 },
      { ...rep.rows[1]!, data: 'synthetic', lr: 2e-2, schedule: 'cosine', warmup: 10, weightDecay: 0.01 },
    ],
  };

  it('markdown and html show each row’s optimizer settings in one column after tune and data', () => {
    const md = sweepMarkdown(tuned).split('\n');
    expect(md[4]!.startsWith('| tune | data | optimizer | trainable |')).toBe(true);
    expect(md[5]!.startsWith('|---|---|---|---:|')).toBe(true);
    expect(md[6]!.startsWith('| f_f_lora_r4 | synthetic | lr 1e-3, constant | 1,234 |')).toBe(true);
    expect(md[7]).toContain('| synthetic | lr 2e-2, cosine, warm-up 10, weight decay 1e-2 | 100,000 |');
    expect(md[8]!.startsWith('| baseline | – | – | – |')).toBe(true);
    expect(md).toContain('optimizer: the learning rate and schedule each tune trained with; warm-up steps and weight decay when not 0.');
    const html = sweepHtml(tuned);
    expect(html).toContain('<th>optimizer</th>');
    expect(html).toContain('<td>lr 2e-2, cosine, warm-up 10, weight decay 1e-2</td>');
    // Without recorded settings (a report of rows that have none) there is no such column.
    expect(sweepMarkdown(rep)).not.toContain('optimizer');
  });

  it('csv appends lr, schedule, warmup and weight_decay after the other columns', () => {
    const csv = sweepCsv(tuned).trim().split('\n');
    expect(csv[0]).toBe(
      'tune,data,trainable_params,total_params,trainable_percent,predicted_peak_bytes,measured_peak_bytes,ms_per_step,steps,open,closed,global,open_lo,open_hi,closed_lo,closed_hi,global_lo,global_hi,n_open,n_closed,n_global,lr,schedule,warmup,weight_decay',
    );
    expect(csv[1]!.endsWith(',4,4,8,0.001,constant,0,0')).toBe(true);
    expect(csv[2]!.endsWith(',0.02,cosine,10,0.01')).toBe(true);
    expect(csv[3]!.startsWith('baseline,,,,,,,,,0.25,0.5,0.375,')).toBe(true);
    expect(csv[3]!.endsWith(',4,4,8,,,,')).toBe(true);
    expect(JSON.parse(sweepJson(tuned)).rows[1]).toMatchObject({ lr: 0.02, schedule: 'cosine', warmup: 10, weightDecay: 0.01 });
  });

  it('json round-trips the rows, their intervals and the baseline', () => {
    const back = JSON.parse(sweepJson(rep)) as SweepReport;
    expect(back.rows[0]!.tune).toBe('f_f_lora_r4');
    expect(back.rows[1]!.losses[1]).toBeNull();
    expect(back.rows[0]!.open_ci![0]).toBeCloseTo(0.15, 3);
    expect(back.rows[0]!.n_global).toBe(8);
    expect(back.rows[1]!.open_ci).toBeUndefined();
    expect(back.baseline).toMatchObject({ open: 0.25, closed: 0.5, global: 0.375, n_open: 4, n_closed: 4, n_global: 8 });
    expect(back.baseline!.global_ci![1]).toBeCloseTo(0.694, 3);
  });

  it('html is self-contained, escapes text and draws both charts', () => {
    const html = sweepHtml(rep);
    expect(html).not.toMatch(/<script|src="http|href="http/);
    expect(html).toContain('t_t_t, &quot;quoted&quot;');
    expect(html.match(/<svg /g)!.length).toBe(2);
    expect(lossChart(rep.rows).match(/<polyline/g)!.length).toBe(2);
    // The NaN step is skipped, not drawn at a bogus position.
    expect(lossChart(rep.rows)).not.toContain('NaN');
    expect(accuracyChart(rep.rows).match(/<circle/g)!.length).toBe(2);
    // The baseline is a row of the table and a dashed line on the accuracy chart.
    expect(html).toContain('<td>baseline</td>');
    expect(accuracyChart(rep.rows, undefined, undefined, rep.baseline)).toContain('baseline (question prior) 37.5 (13.7–69.4)%');
    expect(accuracyChart(rep.rows)).not.toContain('baseline');
  });
});

describe('the question prior (baseline row)', () => {
  const train = [
    { question: 'Is there a lesion?', answerType: 'CLOSED', answer: 'Yes' },
    { question: 'is the lesion on the left?', answerType: 'CLOSED', answer: 'no' },
    { question: 'Is there a mass?', answerType: 'CLOSED', answer: 'yes.' },
    { question: 'What organ is shown?', answerType: 'OPEN', answer: 'the liver' },
    { question: 'what organ is this?', answerType: 'OPEN', answer: 'liver' },
    { question: 'How many lesions?', answerType: 'OPEN', answer: 'two' },
    { question: 'Where is the lesion?', answerType: 'OPEN', answer: 'left' },
    { question: 'Where is it?', answerType: 'OPEN', answer: 'right' },
  ];

  it('answers each question type with its most frequent normalised training answer', () => {
    const prior = fitQuestionPrior(train)!;
    expect(prior.trainItems).toBe(8);
    expect(questionType({ question: '  What, exactly?', answerType: 'open' })).toBe('OPEN what');
    expect(priorAnswer(prior, { question: 'Is it enlarged?', answerType: 'CLOSED' })).toBe('yes');
    expect(priorAnswer(prior, { question: 'how big?', answerType: 'OPEN' })).toBe('two');
    // Ties go to the alphabetically first answer.
    expect(priorAnswer(prior, { question: 'where?', answerType: 'OPEN' })).toBe('left');
    // An unseen first word falls back to the answer type's most frequent answer.
    expect(priorAnswer(prior, { question: 'Which side?', answerType: 'OPEN' })).toBe('liver');
    expect(priorAnswer(prior, { question: 'Does it?', answerType: 'CLOSED' })).toBe('yes');
    expect(fitQuestionPrior([])).toBeUndefined();
  });

  it('is scored on the eval items like a tune', () => {
    const prior = fitQuestionPrior(train)!;
    const evalItems = [
      { question: 'Is there a lesion?', answerType: 'CLOSED', answer: 'no' },
      { question: 'Is the liver enlarged?', answerType: 'CLOSED', answer: 'yes' },
      { question: 'What organ is this?', answerType: 'OPEN', answer: 'Liver' },
      { question: 'How many?', answerType: 'OPEN', answer: 'one' },
    ];
    const want = vqaAccuracy([
      { answerType: 'CLOSED', answer: 'no', prediction: 'yes' },
      { answerType: 'CLOSED', answer: 'yes', prediction: 'yes' },
      { answerType: 'OPEN', answer: 'Liver', prediction: 'liver' },
      { answerType: 'OPEN', answer: 'one', prediction: 'two' },
    ]);
    expect(priorAccuracy(prior, evalItems)).toEqual(want);
    expect(want).toMatchObject({ open: 0.5, closed: 0.5, global: 0.5 });
  });

  it("counts the synthetic set's training examples the tunes saw: steps × batch", () => {
    const data = { name: 'synthetic-vqa', describe: '', batch: () => ({ inputs: {}, size: 0 }) };
    const qs = trainingQuestions(data, { seed: 7, steps: 3, batch: 4 })!;
    expect(qs).toHaveLength(12);
    expect(qs.every((q) => q.answerType === 'OPEN' || q.answerType === 'CLOSED')).toBe(true);
    expect(trainingQuestions({ ...data, name: 'synthetic' }, { seed: 7, steps: 3, batch: 4 })).toBeUndefined();
  });
});
