/**
 * The comparison a sweep produces: one row per tune, written as Markdown, CSV, JSON and a
 * self-contained HTML page with inline SVG charts (loss curves; accuracy against trainable
 * share). Pure: rows in, strings out.
 *
 * Every accuracy comes with its 95 % Wilson score interval and the number of eval items it is
 * over (JSON: `open_ci: [lo, hi]`, `n_open`; CSV: `open_lo`, `open_hi`, `n_open`; the tables:
 * `41.2 (33.0–49.8)` under a header naming n). The baseline row is the question prior of
 * runtime/sweep/baseline.ts on the same eval items.
 *
 * Every row also records the optimizer settings its tune trained with (JSON: `lr`, `schedule`,
 * `warmup`, `weightDecay`; CSV: `lr`, `schedule`, `warmup`, `weight_decay` after every other
 * column; the tables: one `optimizer` column after `tune` and `data`, e.g. `lr 1e-2, cosine, warm-up 10`).
 */
import { type VqaAccuracy, wilsonInterval } from '../metrics.ts';
import { describeOptimizer } from '../train-setup.ts';

type Interval = readonly [lo: number, hi: number];

/** The 95 % Wilson intervals of the accuracies in [0, 1], and the eval items each is over (absent where the accuracy is). */
export interface AccuracyIntervals {
  readonly open_ci?: Interval;
  readonly closed_ci?: Interval;
  readonly global_ci?: Interval;
  readonly n_open?: number;
  readonly n_closed?: number;
  readonly n_global?: number;
}

/** Accuracies in [0, 1] (undefined when the split has no such questions) with their intervals. */
export interface Accuracies extends AccuracyIntervals {
  readonly open?: number;
  readonly closed?: number;
  readonly global?: number;
}

/** The accuracies of `acc` with their 95 % Wilson intervals and item counts. */
export function accuracies(acc: VqaAccuracy): Accuracies {
  const one = (p: number | null, n: number) => (p === null || n === 0 ? undefined : { p, n, ci: wilsonInterval(Math.round(p * n), n)! });
  const [o, c, g] = [one(acc.open, acc.nOpen), one(acc.closed, acc.nClosed), one(acc.global, acc.n)];
  return {
    open: o?.p,
    closed: c?.p,
    global: g?.p,
    open_ci: o?.ci,
    closed_ci: c?.ci,
    global_ci: g?.ci,
    n_open: o?.n,
    n_closed: c?.n,
    n_global: g?.n,
  };
}

/** The sweep's baseline: the question prior's accuracies on the tunes' eval items. */
export interface SweepBaseline extends Accuracies {
  /** How its answers were chosen. */
  readonly rule: string;
  /** Training answers the prior was counted from. */
  readonly trainItems: number;
  /** The `--data` spec it was counted on, when the sweep crossed several. */
  readonly data?: string;
}

export interface SweepRow extends AccuracyIntervals {
  readonly tune: string;
  /** The seed the tune trained from, when the sweep crossed several (`--seeds`): the tables then name it after the tune. */
  readonly seed?: number;
  /** The `--data` spec the tune trained on (a `data` column once any row has one). */
  readonly data?: string;
  readonly trainableParams: number;
  readonly totalParams: number;
  /** trainable / (base + added) × 100, as HF peft counts it. */
  readonly trainablePercent: number;
  /**
   * The optimizer settings the tune trained with, each the command line's (`--lr`, `--schedule`,
   * `--warmup`, `--weight-decay`), else its `optimizer { ... }`'s, else the sweep's default.
   * `milec sweep` always records them; the tables show an `optimizer` column once any row has an lr.
   */
  readonly lr?: number;
  readonly schedule?: 'constant' | 'cosine';
  /** Warm-up steps. */
  readonly warmup?: number;
  readonly weightDecay?: number;
  readonly predictedPeakBytes: number;
  /** Bytes of the GPU buffers the training plan allocated. */
  readonly measuredPeakBytes: number;
  readonly msPerStep: number;
  readonly steps: number;
  /** Accuracies in [0, 1]; undefined when the split has no such questions. */
  readonly open?: number;
  readonly closed?: number;
  readonly global?: number;
  /** Loss per step. */
  readonly losses: readonly number[];
}

export interface SweepReport {
  readonly title: string;
  readonly source: string;
  readonly data: string;
  readonly device: string;
  readonly rows: readonly SweepRow[];
  /** Absent when the training data has no answers to count (or no tune got evaluated). */
  readonly baseline?: SweepBaseline;
  /** How many cells the sweep has and how many finished (runtime/sweep/cells.ts), when it ran as cells. */
  readonly cells?: { readonly total: number; readonly done: number };
  /** The cells without a result, when any: listed under the table with the tail of their log. */
  readonly missing?: readonly MissingCell[];
}

/** A cell of a sweep that has no result (runtime/sweep/collect.ts). */
export interface MissingCell {
  readonly index: number;
  readonly tune: string;
  readonly data: string;
  readonly seed: number;
  /** failed: it started (a log or an error record) but wrote no result; missing: it never ran. */
  readonly status: 'failed' | 'missing';
  readonly reason: string;
  /** The last lines of its log, when it has one. */
  readonly logTail?: string;
}

/** `cell 3 (f_f_ia3 on synthetic, seed 0): failed: …`. */
const describeMissing = (m: MissingCell) => `cell ${m.index} (${m.tune} on ${m.data}, seed ${m.seed}): ${m.status}: ${m.reason}`;

/** The heading of the missing cells' list: `2 of 6 cells have no result`. */
const missingHeading = (rep: SweepReport) =>
  `${rep.missing!.length} of ${rep.cells?.total ?? rep.rows.length + rep.missing!.length} cells have no result`;

const mib = (b: number) => (b / 1048576).toFixed(1);
const pct = (x: number | undefined) => (x === undefined ? '–' : (100 * x).toFixed(1));
/** `41.2 (33.0–49.8)`: the accuracy in % with its 95 % interval; just the accuracy without one. */
const pctCi = (x: number | undefined, ci: Interval | undefined) =>
  x === undefined || !ci ? pct(x) : `${pct(x)} (${pct(ci[0])}–${pct(ci[1])})`;
const kinds = ['open', 'closed', 'global'] as const;
type Kind = (typeof kinds)[number];
const nOf = (a: AccuracyIntervals, k: Kind) => a[`n_${k}`];
const ciOf = (a: AccuracyIntervals, k: Kind) => a[`${k}_ci`];

/** The accuracy columns: `open %`, or `open % (95% CI, n = 47)` once the rows carry intervals. */
function accuracyColumns(rep: SweepReport): string[] {
  const all: AccuracyIntervals[] = [...rep.rows, ...(rep.baseline ? [rep.baseline] : [])];
  return kinds.map((k) => {
    const n = all.map((a) => nOf(a, k)).find((v) => v !== undefined);
    return n === undefined ? `${k} %` : `${k} % (95% CI, n = ${n})`;
  });
}

/** Whether the rows name their training data (`milec sweep` always does): a `data` column after `tune`. */
const hasData = (rep: SweepReport) => rep.rows.some((r) => r.data !== undefined);

/** Whether the rows record their optimizer settings (`milec sweep`'s do): an `optimizer` column after `tune` and `data`. */
const hasOptimizer = (rep: SweepReport) => rep.rows.some((r) => r.lr !== undefined);

/** How many leading columns hold text (left-aligned): `tune`, and `data` and `optimizer` when present. */
const textColumns = (rep: SweepReport) => 1 + (hasData(rep) ? 1 : 0) + (hasOptimizer(rep) ? 1 : 0);

/** A row's `optimizer` cell: `lr 1e-3, constant`, `lr 2e-2, cosine, warm-up 10, weight decay 1e-2`. */
const optimizerCell = (r: SweepRow) => (r.lr === undefined ? '–' : describeOptimizer({ ...r, lr: r.lr }));

function columns(rep: SweepReport): string[] {
  return [
    'tune',
    ...(hasData(rep) ? ['data'] : []),
    ...(hasOptimizer(rep) ? ['optimizer'] : []),
    'trainable',
    'trainable %',
    'predicted peak MiB',
    'measured peak MiB',
    'ms/step',
    ...accuracyColumns(rep),
  ];
}

function accuracyCells(a: Accuracies): string[] {
  return kinds.map((k) => pctCi(a[k], ciOf(a, k)));
}

/** The tune column: its name, and its seed when the sweep crossed several. */
const tuneCell = (r: SweepRow) => (r.seed === undefined ? r.tune : `${r.tune} (seed ${r.seed})`);

function cells(r: SweepRow, data: boolean, optimizer: boolean): string[] {
  return [
    tuneCell(r),
    ...(data ? [r.data ?? '–'] : []),
    ...(optimizer ? [optimizerCell(r)] : []),
    r.trainableParams.toLocaleString('en-US'),
    r.trainablePercent.toFixed(4),
    mib(r.predictedPeakBytes),
    mib(r.measuredPeakBytes),
    r.msPerStep.toFixed(1),
    ...accuracyCells(r),
  ];
}

/** The table's rows: one per tune, then the baseline's. */
function tableRows(rep: SweepReport): string[][] {
  const [data, optimizer] = [hasData(rep), hasOptimizer(rep)];
  const rows = rep.rows.map((r) => cells(r, data, optimizer));
  if (rep.baseline)
    rows.push([
      'baseline',
      ...(data ? [rep.baseline.data ?? '–'] : []),
      ...(optimizer ? ['–'] : []),
      '–',
      '–',
      '–',
      '–',
      '–',
      ...accuracyCells(rep.baseline),
    ]);
  return rows;
}

/** What the baseline row and the intervals are, under the table; empty when there are neither. */
function tableNotes(rep: SweepReport): string[] {
  const notes: string[] = [];
  if (rep.baseline) notes.push(`baseline: ${rep.baseline.rule}; ${rep.baseline.trainItems.toLocaleString('en-US')} training answers.`);
  if ([...rep.rows, ...(rep.baseline ? [rep.baseline] : [])].some((a) => kinds.some((k) => ciOf(a, k))))
    notes.push('Accuracies in %, with their 95 % Wilson score intervals over the n eval items.');
  if (hasOptimizer(rep))
    notes.push('optimizer: the learning rate and schedule each tune trained with; warm-up steps and weight decay when not 0.');
  return notes;
}

export function sweepMarkdown(rep: SweepReport): string {
  const lines = [`# ${rep.title}`, '', `${rep.source} on ${rep.data}, ${rep.device}`, ''];
  const cols = columns(rep);
  lines.push(`| ${cols.join(' | ')} |`, `|${cols.map((_, i) => (i < textColumns(rep) ? '---' : '---:')).join('|')}|`);
  for (const r of tableRows(rep)) lines.push(`| ${r.join(' | ')} |`);
  const notes = tableNotes(rep);
  if (notes.length) lines.push('', ...notes);
  if (rep.missing?.length) {
    lines.push('', `## ${missingHeading(rep)}`, '');
    for (const m of rep.missing) {
      lines.push(`- ${describeMissing(m)}`);
      if (m.logTail) lines.push('', '  ```', ...m.logTail.split('\n').map((l) => `  ${l}`), '  ```');
    }
  }
  return lines.join('\n') + '\n';
}

function csvField(s: string): string {
  return /[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/** The interval and count columns, after the accuracies' own. */
function intervalFields(a: AccuracyIntervals): (number | string)[] {
  return [...kinds.flatMap((k) => [ciOf(a, k)?.[0] ?? '', ciOf(a, k)?.[1] ?? '']), ...kinds.map((k) => nOf(a, k) ?? '')];
}

/**
 * One line per tune, then a `baseline` line (no parameters, memory, speed or optimizer) when
 * the report has one. The optimizer columns (`lr`, `schedule`, `warmup`, `weight_decay`) come
 * last, once any row has an lr, so the columns before them keep their places.
 */
export function sweepCsv(rep: SweepReport): string {
  const [data, optimizer] = [hasData(rep), hasOptimizer(rep)];
  // A seed column, last, when the sweep crossed several seeds.
  const seeds = rep.rows.some((r) => r.seed !== undefined);
  const head = [
    'tune',
    ...(data ? ['data'] : []),
    'trainable_params',
    'total_params',
    'trainable_percent',
    'predicted_peak_bytes',
    'measured_peak_bytes',
    'ms_per_step',
    'steps',
    'open',
    'closed',
    'global',
    ...kinds.flatMap((k) => [`${k}_lo`, `${k}_hi`]),
    ...kinds.map((k) => `n_${k}`),
    ...(optimizer ? ['lr', 'schedule', 'warmup', 'weight_decay'] : []),
    ...(seeds ? ['seed'] : []),
  ];
  const rows = rep.rows.map((r) => [
    r.tune,
    ...(data ? [r.data ?? ''] : []),
    r.trainableParams,
    r.totalParams,
    r.trainablePercent,
    r.predictedPeakBytes,
    r.measuredPeakBytes,
    r.msPerStep,
    r.steps,
    r.open ?? '',
    r.closed ?? '',
    r.global ?? '',
    ...intervalFields(r),
    ...(optimizer ? [r.lr ?? '', r.schedule ?? '', r.warmup ?? '', r.weightDecay ?? ''] : []),
    ...(seeds ? [r.seed ?? ''] : []),
  ]);
  const b = rep.baseline;
  if (b)
    rows.push([
      'baseline',
      ...(data ? [b.data ?? ''] : []),
      '',
      '',
      '',
      '',
      '',
      '',
      '',
      b.open ?? '',
      b.closed ?? '',
      b.global ?? '',
      ...intervalFields(b),
      ...(optimizer ? ['', '', '', ''] : []),
      ...(seeds ? [''] : []),
    ]);
  return [head.join(','), ...rows.map((r) => r.map((v) => csvField(String(v))).join(','))].join('\n') + '\n';
}

export function sweepJson(rep: SweepReport): string {
  return JSON.stringify(rep, null, 2) + '\n';
}

const escape = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
const palette = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22', '#17becf'];

interface Axis {
  readonly min: number;
  readonly max: number;
  readonly log?: boolean;
}

function scale(a: Axis, lo: number, hi: number): (v: number) => number {
  const f = (v: number) => (a.log ? Math.log10(Math.max(v, 1e-12)) : v);
  const [fmin, fmax] = [f(a.min), f(a.max)];
  const span = fmax - fmin || 1;
  return (v) => lo + ((f(v) - fmin) / span) * (hi - lo);
}

type Tick = readonly [position: number, label: string];

function ticks(xs: readonly Tick[], ys: readonly Tick[], h: number): string {
  const x = xs.map(
    ([p, l]) =>
      `<line x1="${p.toFixed(1)}" y1="${h - 50}" x2="${p.toFixed(1)}" y2="${h - 45}" stroke="#999"/><text x="${p.toFixed(1)}" y="${h - 34}" text-anchor="middle" font-size="10">${escape(l)}</text>`,
  );
  const y = ys.map(
    ([p, l]) =>
      `<line x1="45" y1="${p.toFixed(1)}" x2="50" y2="${p.toFixed(1)}" stroke="#999"/><text x="43" y="${(p + 3).toFixed(1)}" text-anchor="end" font-size="10">${escape(l)}</text>`,
  );
  return [...x, ...y].join('\n');
}

/** Axes box, title and labels; the plot spans x 50 … w − right, y 20 … h − 50. */
function frame(w: number, h: number, title: string, xLabel: string, yLabel: string, body: string, right = 20): string {
  const mid = (50 + w - right) / 2;
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}" role="img" aria-label="${escape(title)}">
<rect x="50" y="20" width="${w - 50 - right}" height="${h - 70}" fill="none" stroke="#999"/>
<text x="${mid}" y="14" text-anchor="middle" font-size="13">${escape(title)}</text>
<text x="${mid}" y="${h - 8}" text-anchor="middle" font-size="12">${escape(xLabel)}</text>
<text x="12" y="${h / 2}" text-anchor="middle" font-size="12" transform="rotate(-90 12 ${h / 2})">${escape(yLabel)}</text>
${body}</svg>`;
}

/** Ten colours, then the same colours dashed, then dotted: 30 tunes stay distinguishable. */
const dashes = ['', ' stroke-dasharray="6 3"', ' stroke-dasharray="2 2"'];
const strokeOf = (i: number) => `stroke="${palette[i % palette.length]}"${dashes[Math.floor(i / palette.length) % dashes.length]}`;

/** Loss per step for every tune, one polyline each, with a legend column beside the plot. */
export function lossChart(rows: readonly SweepRow[], w = 800, h = 380): string {
  const all = rows.flatMap((r) => r.losses.filter(Number.isFinite));
  const steps = Math.max(1, ...rows.map((r) => r.losses.length));
  const legendWidth = 160;
  const x = scale({ min: 1, max: steps }, 50, w - legendWidth);
  const y = scale({ min: Math.min(...all, 0), max: Math.max(...all, 1) }, h - 50, 20);
  const lines = rows.map((r, i) => {
    const pts = r.losses.map((l, s) => (Number.isFinite(l) ? `${x(s + 1).toFixed(1)},${y(l).toFixed(1)}` : '')).filter(Boolean);
    return `<polyline fill="none" ${strokeOf(i)} stroke-width="1.5" points="${pts.join(' ')}"><title>${escape(r.tune)}</title></polyline>`;
  });
  const row = Math.min(14, (h - 60) / Math.max(1, rows.length));
  const lx = w - legendWidth + 12;
  const legend = rows.map((r, i) => {
    const ly = 26 + row * i;
    return `<line x1="${lx}" y1="${ly.toFixed(1)}" x2="${lx + 18}" y2="${ly.toFixed(1)}" ${strokeOf(i)} stroke-width="2"/><text x="${lx + 24}" y="${(ly + 4).toFixed(1)}" font-size="11">${escape(r.tune)}</text>`;
  });
  const [lo, hi] = [Math.min(...all, 0), Math.max(...all, 1)];
  const yt: Tick[] = [0, 0.25, 0.5, 0.75, 1].map((f) => [y(lo + f * (hi - lo)), (lo + f * (hi - lo)).toPrecision(3)]);
  const xt: Tick[] = [1, Math.round(steps / 2), steps].map((s) => [x(s), String(s)]);
  return frame(w, h, 'training loss', 'step', 'loss', [...lines, ...legend, ticks(xt, yt, h)].join('\n'), legendWidth);
}

/**
 * Global accuracy against trainable share (log scale), one labelled point per tune with its
 * 95 % interval as a vertical bar, and the baseline's global accuracy as a dashed line.
 */
export function accuracyChart(rows: readonly SweepRow[], w = 640, h = 360, baseline?: Accuracies): string {
  const pts = rows.filter((r) => r.global !== undefined && r.trainablePercent > 0);
  const xs = pts.map((r) => r.trainablePercent);
  const x = scale({ min: Math.min(...xs, 0.01) / 1.5, max: Math.max(...xs, 1) * 1.5, log: true }, 50, w - 20);
  const y = scale({ min: 0, max: 1 }, h - 50, 20);
  const dots = pts.map((r, i) => {
    const [cx, cy] = [x(r.trainablePercent), y(r.global!)];
    const ci = r.global_ci;
    const bar = ci
      ? `<line x1="${cx.toFixed(1)}" y1="${y(ci[0]).toFixed(1)}" x2="${cx.toFixed(1)}" y2="${y(ci[1]).toFixed(1)}" stroke="${palette[i % palette.length]}" stroke-opacity="0.5" stroke-width="2"/>\n`
      : '';
    return `${bar}<circle cx="${cx.toFixed(1)}" cy="${cy.toFixed(1)}" r="4" fill="${palette[i % palette.length]}"><title>${escape(r.tune)}: ${pctCi(r.global, ci)}% at ${r.trainablePercent.toFixed(3)}%</title></circle>
<text x="${(cx + 6).toFixed(1)}" y="${(cy - 6).toFixed(1)}" font-size="10">${escape(r.tune)}</text>`;
  });
  if (baseline?.global !== undefined) {
    const by = y(baseline.global).toFixed(1);
    const label = `baseline (question prior) ${pctCi(baseline.global, baseline.global_ci)}%`;
    dots.push(
      `<line x1="50" y1="${by}" x2="${w - 20}" y2="${by}" stroke="#555" stroke-dasharray="5 4"><title>${escape(label)}</title></line>
<text x="${w - 24}" y="${(Number(by) - 4).toFixed(1)}" text-anchor="end" font-size="10" fill="#555">${escape(label)}</text>`,
    );
  }
  const yt: Tick[] = [0, 0.25, 0.5, 0.75, 1].map((v) => [y(v), `${100 * v}%`]);
  const decades = [0.001, 0.01, 0.1, 1, 10, 100].filter((v) => v >= Math.min(...xs, 0.01) / 1.5 && v <= Math.max(...xs, 1) * 1.5);
  const xt: Tick[] = decades.map((v) => [x(v), `${v}%`]);
  return frame(
    w,
    h,
    'global accuracy vs trainable parameters',
    'trainable % (log scale)',
    'global accuracy',
    [...dots, ticks(xt, yt, h)].join('\n'),
  );
}

/** The HTML report; `pictures` (SVG by tune, `tunePicturesHtml`) adds each tune's model picture after the charts. */
export function sweepHtml(rep: SweepReport, pictures?: ReadonlyMap<string, string>): string {
  const head = columns(rep)
    .map((c) => `<th>${escape(c)}</th>`)
    .join('');
  const body = tableRows(rep)
    .map((r) => `<tr>${r.map((c, i) => `<td${i >= textColumns(rep) ? ' class="n"' : ''}>${escape(c)}</td>`).join('')}</tr>`)
    .join('\n');
  const notes = tableNotes(rep)
    .map((n) => `<p>${escape(n)}</p>\n`)
    .join('');
  const missing = rep.missing?.length
    ? `<h2>${escape(missingHeading(rep))}</h2>\n<ul>\n${rep.missing
        .map((m) => `<li>${escape(describeMissing(m))}${m.logTail ? `<pre>${escape(m.logTail)}</pre>` : ''}</li>`)
        .join('\n')}\n</ul>\n`
    : '';
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${escape(rep.title)}</title>
<style>body{font-family:system-ui,sans-serif;margin:2em;max-width:1100px}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 8px}td.n{text-align:right}figure{display:inline-block;margin:1em 1em 0 0}</style>
</head><body>
<h1>${escape(rep.title)}</h1>
<p>${escape(rep.source)} on ${escape(rep.data)}, ${escape(rep.device)}</p>
<table><thead><tr>${head}</tr></thead><tbody>
${body}
</tbody></table>
${notes}${missing}<figure>${lossChart(rep.rows)}</figure>
<figure>${accuracyChart(rep.rows, undefined, undefined, rep.baseline)}</figure>
${tunePicturesHtml(rep.rows, pictures)}</body></html>
`;
}

// ------------------------------------------------------------------------------ model pictures

/**
 * Each tune's model picture (compiler/picture/: what it freezes, trains in full, and where its
 * PEFT sites are), one collapsible section per tune in row order; empty without pictures. The
 * SVGs are inlined without their XML prologue, each in a box that scrolls when it is wider than the page.
 */
function tunePicturesHtml(rows: readonly SweepRow[], pictures: ReadonlyMap<string, string> | undefined): string {
  const tunes = [...new Set(rows.map((r) => r.tune))].filter((t) => pictures?.has(t));
  if (tunes.length === 0) return '';
  const inline = (svg: string) => svg.slice(Math.max(0, svg.search(/<svg\b/)));
  const sections = tunes.map(
    (t) => `<details><summary>${escape(t)}</summary>\n<div style="overflow-x:auto">${inline(pictures!.get(t)!)}</div></details>`,
  );
  return `<h2>model pictures</h2>\n${sections.join('\n')}\n`;
}
