// Assertions of scripts/test-slurm.sh on the files of two sweeps; plain Node, no dependencies.
// Each prints what it checked and exits 1 with the reason on a mismatch.
//
//   node tests/slurm/check-sweep.mjs killed OUT INDEX   the collected report marks cell INDEX as
//                                                       failed, with its log's tail, and has every
//                                                       other cell's row
//   node tests/slurm/check-sweep.mjs same REF OUT       the sweep in OUT has the rows of the sweep
//                                                       in REF: same tunes, data, seeds, sizes and
//                                                       accuracies, and the same loss per step
//   node tests/slurm/check-sweep.mjs timings OUT         prints each cell's seconds (not a check)
//   node tests/slurm/check-sweep.mjs rerun OUT JOB1 JOB2 INDEX
//                                                       cell INDEX ran in array job JOB2, every
//                                                       other cell in JOB1 (not rerun)
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * Losses must agree to this relative difference. Each cell is a deterministic function of its
 * tune, dataset, seed and options, and the same kernels run on the same adapter, so they agree
 * bit for bit in practice; the tolerance only allows for a driver that reorders a reduction
 * between processes. The script reports how many were bit-identical.
 */
const LOSS_RTOL = 1e-6;

const fail = (msg) => {
  console.error(`check-sweep: FAIL: ${msg}`);
  process.exit(1);
};
const readJson = (path) => {
  try {
    return JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    fail(`${path}: ${e.message}`);
  }
};

function killed(out, index) {
  const rep = readJson(join(out, 'sweep.json'));
  const missing = rep.missing ?? [];
  if (missing.length !== 1) fail(`expected exactly cell ${index} without a result, got ${JSON.stringify(missing.map((m) => m.index))}`);
  const m = missing[0];
  if (m.index !== index) fail(`the cell without a result is ${m.index}, not ${index}`);
  if (m.status !== 'failed') fail(`cell ${index} is "${m.status}", expected "failed" (its task started and was killed)`);
  if (!m.logTail || !/CANCELLED/.test(m.logTail)) fail(`cell ${index}'s log tail does not show its cancellation:\n${m.logTail}`);
  if (rep.cells?.total !== rep.rows.length + 1) fail(`cells ${JSON.stringify(rep.cells)} with ${rep.rows.length} rows`);
  const md = readFileSync(join(out, 'sweep.md'), 'utf8');
  if (!md.includes(`cell ${index} (`) || !md.includes('CANCELLED')) fail(`sweep.md does not list cell ${index} with its log`);
  console.log(`check-sweep: cell ${index} reported failed with its log tail; ${rep.rows.length} of ${rep.cells.total} cells collected`);
}

function same(refDir, outDir) {
  const [ref, out] = [readJson(join(refDir, 'sweep.json')), readJson(join(outDir, 'sweep.json'))];
  if (out.missing?.length) fail(`${outDir} still misses cells ${out.missing.map((m) => m.index).join(', ')}`);
  if (ref.rows.length !== out.rows.length) fail(`${ref.rows.length} rows locally, ${out.rows.length} on Slurm`);
  const exactKeys = [
    'tune',
    'data',
    'seed',
    'trainableParams',
    'totalParams',
    'steps',
    'lr',
    'schedule',
    'open',
    'closed',
    'global',
    'n_global',
  ];
  let bitEqual = 0;
  let losses = 0;
  let worst = 0;
  ref.rows.forEach((r, i) => {
    const s = out.rows[i];
    for (const k of exactKeys)
      if (JSON.stringify(r[k]) !== JSON.stringify(s[k]))
        fail(`row ${i} (${r.tune}): ${k} is ${JSON.stringify(r[k])} locally, ${JSON.stringify(s[k])} on Slurm`);
    if (r.losses.length !== s.losses.length) fail(`row ${i} (${r.tune}): ${r.losses.length} losses locally, ${s.losses.length} on Slurm`);
    r.losses.forEach((l, j) => {
      const d = Math.abs(l - s.losses[j]) / Math.max(Math.abs(l), 1e-12);
      worst = Math.max(worst, d);
      losses++;
      if (l === s.losses[j]) bitEqual++;
      else if (!(d <= LOSS_RTOL)) fail(`row ${i} (${r.tune}) step ${j + 1}: loss ${l} locally, ${s.losses[j]} on Slurm`);
    });
  });
  if (JSON.stringify(ref.baseline) !== JSON.stringify(out.baseline)) fail('the baselines differ');
  console.log(
    `check-sweep: ${out.rows.length} rows match the local sweep (${out.rows.map((r) => r.tune).join(', ')}); ` +
      `${bitEqual} of ${losses} losses bit-identical, largest relative difference ${worst.toExponential(1)} (tolerance ${LOSS_RTOL})`,
  );
}

function rerun(out, job1, job2, index) {
  const rep = readJson(join(out, 'sweep-plan.json'));
  for (const c of rep.cells) {
    const r = readJson(join(out, 'cells', `${c.index}.json`));
    const want = `${c.index === index ? job2 : job1}_${c.index}`;
    if (r.slurmJob !== want) fail(`cell ${c.index} ran in ${r.slurmJob}, expected ${want}`);
  }
  console.log(`check-sweep: only cell ${index} ran again (array job ${job2}); the others kept their results from job ${job1}`);
}

/** Where each cell's time went, from its result (compile, train, eval, all of it), and on which Slurm job. */
function timings(out) {
  const plan = readJson(join(out, 'sweep-plan.json'));
  for (const c of plan.cells) {
    const r = readJson(join(out, 'cells', `${c.index}.json`));
    const s = r.seconds;
    console.log(
      `check-sweep: cell ${c.index} ${c.tune} (job ${r.slurmJob ?? '-'}): ${s.compile.toFixed(1)} s compiling, ${s.train.toFixed(1)} s training, ${s.eval.toFixed(1)} s evaluating, ${s.total.toFixed(1)} s in all`,
    );
  }
}

const [what, ...args] = process.argv.slice(2);
if (what === 'killed') killed(args[0], Number(args[1]));
else if (what === 'same') same(args[0], args[1]);
else if (what === 'rerun') rerun(args[0], args[1], args[2], Number(args[3]));
else if (what === 'timings') timings(args[0]);
else fail(`unknown check "${what}" (killed, same, rerun, timings)`);
