import { describe, expect, it } from 'vitest';
import { accuracyChart, lossChart, sweepCsv, sweepHtml, sweepJson, sweepMarkdown, type SweepReport } from '../../runtime/sweep/report.ts';

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
      open: 0.5,
      closed: 0.75,
      global: 0.625,
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
      closed: 1,
      global: 1,
      losses: [2, NaN, 0.5],
    },
  ],
};

describe('sweep report', () => {
  it('markdown has a header and one row per tune', () => {
    const md = sweepMarkdown(rep).split('\n');
    expect(md[4]).toBe(
      '| tune | trainable | trainable % | predicted peak MiB | measured peak MiB | ms/step | open % | closed % | global % |',
    );
    expect(md[6]).toBe('| f_f_lora_r4 | 1,234 | 1.2340 | 2.0 | 3.0 | 12.3 | 50.0 | 75.0 | 62.5 |');
    expect(md[7]).toContain('| – | 100.0 | 100.0 |');
  });

  it('csv quotes fields that need it and leaves missing accuracies empty', () => {
    const csv = sweepCsv(rep).trim().split('\n');
    expect(csv[0]).toBe(
      'tune,trainable_params,total_params,trainable_percent,predicted_peak_bytes,measured_peak_bytes,ms_per_step,steps,open,closed,global',
    );
    expect(csv[1]).toBe('f_f_lora_r4,1234,100000,1.234,2097152,3145728,12.34,3,0.5,0.75,0.625');
    expect(csv[2]!.startsWith('"t_t_t, ""quoted""",100000')).toBe(true);
    expect(csv[2]!.endsWith(',,1,1')).toBe(true);
  });

  it('json round-trips the rows', () => {
    const back = JSON.parse(sweepJson(rep)) as SweepReport;
    expect(back.rows[0]!.tune).toBe('f_f_lora_r4');
    expect(back.rows[1]!.losses[1]).toBeNull();
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
  });
});
