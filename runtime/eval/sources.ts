/**
 * Evaluation data: the `--data` specs of `milec eval` (and `--eval-data` of `milec sweep`) as
 * an `EvalSource`. `items:PATH.json` is the small self-contained format of
 * runtime/eval/items-file.ts; `synthetic-vqa[:N]` the built-in synthetic set's eval split
 * (`synthetic-scenes[:N]`: the general-domain pretraining set's),
 * `synthetic-instruction[:N]` (or `synthetic-instruction-vqa[:N]`) its instruction variant's; the
 * dataset loaders of runtime/data/vqa.ts (VQA-RAD, SLAKE, instruction files) their eval split.
 * A spec that does not fit the model throws a `DataError`.
 */
import type { Graph } from '../../compiler/ir/graph.ts';
import type { ElaboratedModel } from '../../compiler/sema/instance.ts';
import { DataError, syntheticScenesSetup, syntheticVqaSetup } from '../data/index.ts';
import { syntheticScenesBatch } from '../data/synthetic-scenes.ts';
import { readItemsFile } from './items-file.ts';
import { SYNTHETIC_VQA_ANSWERS, syntheticVqaBatch } from '../data/synthetic-vqa.ts';
import { checkAnswerCount, openVqaDataset, vqaInputShape } from '../data/vqa.ts';
import type { EvalItem, EvalSource } from './vqa.ts';

/** The built-in synthetic sets: the medical one, its instruction variant, and the general-domain scenes. */
type SyntheticSet = 'vqa' | 'instruction' | 'scenes';

const SYNTHETIC_NAMES: Record<SyntheticSet, string> = {
  vqa: 'synthetic-vqa',
  instruction: 'synthetic-instruction',
  scenes: 'synthetic-scenes',
};

/** `synthetic-vqa[:N]` (and the other built-in sets): the first N (default 64) items of the set's eval split. */
function syntheticSource(spec: string, model: ElaboratedModel, seed: number, set: SyntheticSet): EvalSource {
  const n = spec.includes(':') ? Number(spec.split(':')[1]) : 64;
  if (!Number.isInteger(n) || n <= 0) throw new DataError(`--data ${spec}: the item count must be a positive integer`);
  let shape;
  try {
    shape = vqaInputShape(model, spec);
    if (shape.answerClass && set === 'scenes')
      throw new DataError(`--data ${spec}: the scene set has no answer list for a classifier head`);
    if (shape.answerClass) checkAnswerCount(model, spec, SYNTHETIC_VQA_ANSWERS);
  } catch (e) {
    throw new DataError(e instanceof Error ? e.message : String(e));
  }
  const { tok, b } =
    set === 'scenes'
      ? ((s) => ({ tok: s.tok, b: syntheticScenesBatch(s.o, 0, n, 'eval') }))(syntheticScenesSetup(shape, seed))
      : ((s) => ({ tok: s.tok, b: syntheticVqaBatch(s.o, 0, n, 'eval') }))(syntheticVqaSetup(shape, seed, set === 'instruction'));
  const img = b.inputs.image!.length / n;
  const items = b.examples.map((ex, i): EvalItem => ({
    id: String(i),
    question: ex.question,
    answer: ex.answer,
    answerType: ex.answerType,
    inputs: {
      image: b.inputs.image!.slice(i * img, (i + 1) * img),
      question: (b.inputs.question as Int32Array).slice(i * shape.qlen, (i + 1) * shape.qlen),
    },
  }));
  return {
    name: `${SYNTHETIC_NAMES[set]} (${n} eval items)`,
    items,
    special: { bos: tok.id('[DEC]'), eos: tok.id('[SEP]'), pad: tok.id('[PAD]') },
    decode: (ids) => tok.decode(ids),
    encodeAnswer: (t) => tok.encode(t),
    answers: set === 'scenes' ? undefined : SYNTHETIC_VQA_ANSWERS,
  };
}

/** `vqa-rad:PATH`, `slake:PATH`, `instruction:PATH`: the eval split, in file order. */
function fileSource(spec: string, model: ElaboratedModel, seed: number, vocabPath: string | undefined, strict?: boolean): EvalSource {
  let ds;
  try {
    ds = openVqaDataset(spec, model, seed, { vocabPath, strict });
  } catch (e) {
    if (e instanceof Error && !(e instanceof TypeError) && !(e instanceof DataError)) throw new DataError(e.message);
    throw e;
  }
  const n = ds.items('eval').length;
  if (n === 0) throw new DataError(`--data ${spec}: the eval split has no usable items`);
  const b = ds.batch(0, n, 'eval');
  const tok = ds.tokenizer;
  const per = (name: string) => b.inputs[name]!.length / b.size;
  const slice = (name: string, i: number) => b.inputs[name]!.slice(i * per(name), (i + 1) * per(name));
  const items = b.items.map((it, i): EvalItem => ({
    id: it.id,
    question: it.question,
    answer: it.answer,
    answerType: it.answerType,
    inputs: { image: slice('image', i), question: slice('question', i) },
  }));
  return {
    name: `${ds.name} (${items.length} eval items)`,
    items,
    special: { bos: tok.id('[DEC]'), eos: tok.id('[SEP]'), pad: tok.id('[PAD]') },
    decode: (ids) => tok.decode(ids),
    encodeAnswer: (t) => tok.encode(t),
    answers: ds.answers,
  };
}

/** The evaluation items of `--data SPEC` (or `--eval-data`) for `graph`, the inference forward of `model`. */
export function openEvalSource(
  spec: string,
  graph: Graph,
  model: ElaboratedModel,
  seed: number,
  vocabPath?: string,
  strict?: boolean,
): EvalSource {
  if (spec.startsWith('items:')) return readItemsFile(spec.slice('items:'.length), graph);
  if (spec === 'synthetic-vqa' || spec.startsWith('synthetic-vqa:') || spec === 'synthetic')
    return syntheticSource(spec === 'synthetic' ? 'synthetic-vqa' : spec, model, seed, 'vqa');
  if (/^synthetic-instruction(-vqa)?(:|$)/.test(spec)) return syntheticSource(spec, model, seed, 'instruction');
  if (/^synthetic-scenes(:|$)/.test(spec)) return syntheticSource(spec, model, seed, 'scenes');
  if (/^(vqa-rad|slake|instruction):/.test(spec)) return fileSource(spec, model, seed, vocabPath, strict);
  throw new DataError(
    `--data ${spec}: milec eval reads items:PATH.json, synthetic-vqa[:N], synthetic-instruction[:N], synthetic-scenes[:N], vqa-rad:PATH, slake:PATH or instruction:PATH`,
  );
}
