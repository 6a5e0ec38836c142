/**
 * The `items:PATH.json` evaluation format: a small self-contained set for tests and demos (a
 * word-level vocabulary, and items whose images are generated from a seed), read as an
 * `EvalSource` for `milec eval`.
 */
import { readFileSync } from 'node:fs';
import type { Graph } from '../../compiler/ir/graph.ts';
import { elementCount } from '../../core/dim.ts';
import type { EvalItem, EvalSource } from './vqa.ts';
import { mulberry32 } from '../../core/random.ts';
import { DataError } from '../data/index.ts';

/**
 * `{ "vocab": ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[DEC]", "yes", …],
 *    "items": [{ "id": "1", "question": "…", "answer": "…", "answer_type": "CLOSED",
 *                "image_seed": 3 }, …] }`
 * Words are lower-cased runs of letters and digits, mapped to their vocabulary id or
 * `[UNK]`. A question is `[CLS]` and its words, truncated or padded with `[PAD]` to the
 * model's question length; answers start with `[DEC]` and end with `[SEP]`. An optional
 * `"answers": ["yes", "no", …]` is the answer list of a classifier-head model. The image of an
 * item is uniform noise in [-1, 1] drawn from its `image_seed` (or its explicit `image`
 * array), at the shape of the model's `image` input.
 */
export function readItemsFile(path: string, graph: Graph): EvalSource {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new DataError(`${path}: ${e instanceof Error ? e.message : String(e)}`);
  }
  const doc = raw as { vocab?: unknown; items?: unknown; answers?: unknown };
  if (!Array.isArray(doc.vocab) || !doc.vocab.every((v) => typeof v === 'string'))
    throw new DataError(`${path}: \`vocab\` must be an array of strings`);
  if (!Array.isArray(doc.items)) throw new DataError(`${path}: \`items\` must be an array`);
  if (doc.answers !== undefined && (!Array.isArray(doc.answers) || !doc.answers.every((v) => typeof v === 'string')))
    throw new DataError(`${path}: \`answers\` must be an array of strings`);
  const vocab = doc.vocab as string[];
  const id = new Map(vocab.map((w, i) => [w, i]));
  const need = (w: string) => {
    const i = id.get(w);
    if (i === undefined) throw new DataError(`${path}: the vocabulary has no ${w}`);
    return i;
  };
  const special = { bos: need('[DEC]'), eos: need('[SEP]'), pad: need('[PAD]') };
  const unk = need('[UNK]');
  const cls = need('[CLS]');
  const words = (s: string) => s.toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? [];
  const encode = (s: string) => words(s).map((w) => id.get(w) ?? unk);
  const inputs = new Map(graph.inputs.map((i) => [i.name, i]));
  const q = inputs.get('question');
  const img = inputs.get('image');
  if (!q || !img)
    throw new DataError(
      `--data items: feeds inputs \`image\` and \`question\`; the model has ${graph.inputs.map((i) => `\`${i.name}\``).join(', ')}`,
    );
  const qlen = Number(q.shape[1]);
  const imgNumel = elementCount(img.shape.slice(1));
  const items = (doc.items as Record<string, unknown>[]).map((it, k): EvalItem => {
    const where = `${path}: item ${k}`;
    for (const f of ['question', 'answer', 'answer_type'])
      if (typeof it[f] !== 'string') throw new DataError(`${where}: \`${f}\` must be a string`);
    const tokens = [cls, ...encode(it.question as string)].slice(0, qlen);
    const question = new Int32Array(qlen).fill(special.pad);
    question.set(tokens);
    let image: Float32Array;
    if (Array.isArray(it.image)) {
      if (it.image.length !== imgNumel)
        throw new DataError(`${where}: \`image\` has ${it.image.length} values, the model's image has ${imgNumel}`);
      image = Float32Array.from(it.image as number[]);
    } else {
      const rng = mulberry32(Number(it.image_seed ?? k) >>> 0);
      image = Float32Array.from({ length: imgNumel }, () => 2 * rng() - 1);
    }
    return {
      id: String(it.id ?? k),
      question: it.question as string,
      answer: it.answer as string,
      answerType: String(it.answer_type).toUpperCase(),
      inputs: { image, question },
    };
  });
  const skip = new Set([special.bos, special.eos, special.pad, cls]);
  return {
    name: `items:${path}`,
    items,
    special,
    decode: (ids) =>
      ids
        .filter((i) => !skip.has(i))
        .map((i) => vocab[i] ?? '[UNK]')
        .join(' '),
    encodeAnswer: encode,
    answers: doc.answers as string[] | undefined,
  };
}
