/**
 * `milec plan`: the sites a tune matches, parameter counts and a training-memory estimate,
 * from the front end alone (training graph, symbolic sizes): no GPU, no buffers. `--svg`
 * also draws each tune's model picture (compiler/picture/).
 */
import { dirname, join } from 'node:path';
import { mkdirSync } from 'node:fs';
import type { MethodRegistry } from '../compiler/peft/registry.ts';
import type { ConfigOverrides } from '../compiler/sema/elaborate.ts';
import { loadProgram } from '../compiler/sema/load.ts';
import { planTraining, printTrainingPlan } from '../compiler/cost/report.ts';
import { pictureDot } from '../compiler/picture/dot.ts';
import { tunePicture } from '../compiler/picture/model-picture.ts';
import { pictureSvg, tunePictureSvg } from '../compiler/picture/svg.ts';
import { writeFileAtomic } from '../runtime/atomic.ts';
import { fileHost } from '../runtime/source-files.ts';
import { compileFile, report } from './compile.ts';
import { boundSizes, UserError } from './errors.ts';

export interface PlanCliOptions {
  /** One tune, several comma-separated, or `all` (every tune of the file, of `--model` when given). */
  tune: string;
  model?: string;
  /** `--config name=value`: config values replacing the model's own. */
  config?: ConfigOverrides;
  batch: number;
  dim?: string[];
  json?: boolean;
  /** Write the model picture: to this SVG file for one tune, or as `<tune>.svg` into this folder for several. */
  svg?: string;
  /** PEFT methods of `--plugin` files, with the built-ins (built-ins only when absent). */
  registry?: MethodRegistry;
}

export async function planCommand(file: string, o: PlanCliOptions): Promise<number> {
  const tunes = tunesToPlan(file, o);
  if (tunes === undefined) return 1;
  if (tunes.length === 0)
    throw new UserError(`${o.tune === 'all' ? `${file} declares no tunes` : 'no tune named'}${o.model ? ` for ${o.model}` : ''}`);
  const several = tunes.length > 1;

  for (const [i, tune] of tunes.entries()) {
    const r = compileFile(file, { ...o, tune }, true);
    if (report(r)) return 1;
    const fe = r.result!;
    const bindings = boundSizes(fe.train!, { batch: o.batch, dims: o.dim });
    const plan = planTraining(fe, { bindings });
    const text = o.json ? JSON.stringify({ source: file, ...plan }) + '\n' : printTrainingPlan(plan, file);
    process.stdout.write(i > 0 && !o.json ? `\n${text}` : text);
    if (o.svg) {
      const out = several ? join(o.svg, `${tune}.svg`) : o.svg;
      await writePicture(out, await tunePictureSvg(fe));
      process.stderr.write(`wrote ${out}\n`);
    }
  }
  return 0;
}

/** Writes an SVG atomically, making its folder; a path that cannot be written is the user's error. */
async function writePicture(out: string, svg: string): Promise<void> {
  try {
    mkdirSync(dirname(out), { recursive: true });
    await writeFileAtomic(out, svg);
  } catch (e) {
    throw new UserError(`cannot write ${out}: ${e instanceof Error ? e.message : String(e)}`);
  }
}

/**
 * The tunes `--tune` names: `all` is every tune of the file (of `--model` when given) unless
 * the file has a tune called `all`; `a,b` is a list. Unknown names are reported by the front end.
 */
function tunesToPlan(file: string, o: PlanCliOptions): string[] | undefined {
  const names = o.tune
    .split(',')
    .map((t) => t.trim())
    .filter(Boolean);
  if (names.length !== 1 || names[0] !== 'all') return names;
  const loaded = loadProgram(fileHost(), file);
  if (report({ result: loaded.program, diagnostics: loaded.diagnostics, sources: loaded.sources })) return undefined;
  const tunes = loaded.program!.tunes;
  if (tunes.some((t) => t.name.name === 'all')) return names;
  return tunes.filter((t) => o.model === undefined || t.model.name === o.model).map((t) => t.name.name);
}

/**
 * Each tune's model picture (SVG) by name, for the sweep report, from the file's elaborated
 * model (no lowering). A tune that does not compile (the file changed since, or it needs a
 * `--plugin`'s method) is left out: a report without its picture is still a report.
 */
export async function tunePictures(file: string, tunes: readonly string[], registry?: MethodRegistry): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const { program } = loadProgram(fileHost(), file);
  if (!program) return out;
  for (const tune of tunes) {
    const { picture } = tunePicture(program, tune, registry);
    if (picture) out.set(tune, await pictureSvg(pictureDot(picture)));
  }
  return out;
}
