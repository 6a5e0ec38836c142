import { compileFrontEnd } from './compiler/pipeline.ts';
import { loadProgram } from './compiler/sema/load.ts';
import { buildPlanReport } from './compiler/report/plan.ts';
const prog = loadProgram('examples/miss_vqa.mile').program!;
let worst = 0;
for (const t of prog.tunes) {
  const s = performance.now();
  const r = compileFrontEnd({ file: 'examples/miss_vqa.mile', tune: t.name.name, training: true });
  const ms = performance.now() - s;
  worst = Math.max(worst, ms);
  const fe = r.result!;
  const tot = fe.forward.params.reduce((n, p) => n + p.shape.reduce<number>((a, d) => a * Number(d), 1), 0);
  const tr = fe.forward.params.filter(p => p.trainable).reduce((n, p) => n + p.shape.reduce<number>((a, d) => a * Number(d), 1), 0);
  console.log(t.name.name.padEnd(20), String(tr).padStart(12), (100 * tr / tot).toFixed(4) + '%', Math.round(ms) + 'ms');
}
console.log('worst', Math.round(worst));
