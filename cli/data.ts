/**
 * `milec data SPEC`: a dry run of a dataset, as axolotl's preprocessing debug view. Without a
 * model: the layout and files read, items per split (read, usable, open, closed), the answer
 * list's size, and every problem (malformed items, missing and corrupt images). With
 * `--model-file FILE.mile` (and `--vocab`): also the first few training items as the model
 * will see them — question and answer token ids, tokenized and padded to the model's input
 * lengths, the answer class, the image's shape and value range.
 */
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { compileFrontEnd } from '../compiler/pipeline.ts';
import { DataError } from '../runtime/data/index.ts';
import { decodeImage, ImageError } from '../runtime/data/images.ts';
import { VqaFormatError } from '../runtime/data/json.ts';
import { answerList, vqaInputShape } from '../runtime/data/vqa-model.ts';
import {
  type DataProblem,
  instructionQuestion,
  type LoadResult,
  loadVqaSpec,
  slakeRoot,
  vqaRadLayout,
} from '../runtime/data/vqa-formats.ts';
import { openVqaDataset } from '../runtime/data/vqa.ts';
import { fileHost } from '../runtime/source-files.ts';
import { TokenizerError, type WordPieceTokenizer } from '../runtime/tokenizer/wordpiece.ts';
import { report } from './compile.ts';
import { asUserError, UserError } from './errors.ts';

export interface DataCliOptions {
  /** A .mile file whose model gives the input shapes (and enables the sample view). */
  modelFile?: string;
  model?: string;
  vocab?: string;
  /** Items shown with a model (default 3). */
  show: number;
  seed: number;
  strict?: boolean;
  json?: boolean;
}

interface SplitReport {
  /** Items read for the split, problems included. */
  read: number;
  usable: number;
  open: number;
  closed: number;
  missingImages: number;
  corruptImages: number;
  malformed: number;
}

interface Sample {
  split: string;
  id: string;
  question: string;
  answer: string;
  answerType: string;
  questionIds: number[];
  questionTokens: string[];
  answerIds?: number[];
  answerTokens?: string[];
  answerClass?: number;
  image: { shape: number[]; min: number; max: number; mean: number };
}

interface DataReport {
  spec: string;
  layout: string;
  files: string[];
  splits: { train: SplitReport; eval: SplitReport };
  answerList: { size: number; source: string };
  problems: DataProblem[];
  samples?: Sample[];
}

const DATA_ERRORS = [VqaFormatError, TokenizerError, DataError];

export function dataCommand(spec: string, o: DataCliOptions): number {
  let r: DataReport | undefined;
  try {
    r = dataReport(spec, o);
  } catch (e) {
    throw asUserError(e, DATA_ERRORS);
  }
  if (!r) return 1;
  process.stdout.write(o.json ? JSON.stringify(r) + '\n' : printReport(r));
  return 0;
}

/** The report of `spec`; undefined when `--model-file` does not compile (its diagnostics printed). */
function dataReport(spec: string, o: DataCliOptions): DataReport | undefined {
  const kind = spec.split(':', 1)[0]!;
  if (!['vqa-rad', 'slake', 'instruction'].includes(kind))
    throw new UserError(`milec data checks the file datasets vqa-rad:PATH, slake:PATH and instruction:PATH, not \`${spec}\``);
  const path = spec.slice(kind.length + 1);
  const loaded = loadVqaSpec(spec, { strict: o.strict });
  const corrupt = { train: corruptImages(loaded.train), eval: corruptImages(loaded.eval) };
  if (o.strict && (corrupt.train.length || corrupt.eval.length)) {
    const p = [...corrupt.train, ...corrupt.eval][0]!;
    throw new UserError(`${p.path}: ${p.reason}`);
  }
  const listed = loaded.train.answerList ?? loaded.eval.answerList;
  const r: DataReport = {
    spec,
    layout: layoutOf(kind, path),
    files: [...new Set([...(loaded.train.files ?? []), ...(loaded.eval.files ?? [])])],
    splits: { train: splitReport(loaded.train, corrupt.train), eval: splitReport(loaded.eval, corrupt.eval) },
    answerList: listed
      ? { size: listed.length, source: 'answer_list.json' }
      : { size: answerList(loaded.train.items).length, source: 'distinct answers of the train split' },
    problems: [...loaded.train.problems, ...corrupt.train, ...loaded.eval.problems, ...corrupt.eval],
  };
  if (o.modelFile) {
    const samples = modelSamples(spec, o);
    if (!samples) return undefined;
    r.samples = samples;
  }
  return r;
}

/** The layout of a spec's PATH, in words. */
function layoutOf(kind: string, path: string): string {
  if (kind === 'vqa-rad') {
    const l = vqaRadLayout(path);
    return l.kind === 'osf'
      ? `VQA-RAD, one file (the test split is phrase_type test_*)${l.answerList ? ', with answer_list.json' : ''}`
      : `VQA-RAD, train/test files (${[l.train, l.test]
          .filter((f) => f)
          .map((f) => basename(f!))
          .join(' + ')}${l.answerList ? ' + answer_list.json' : ', no answer list'})`;
  }
  if (kind === 'slake') return `SLAKE (English), ${slakeRoot(path)}`;
  return 'instruction (every 10th item held out for evaluation)';
}

/** The usable items of `r` whose image does not decode, as problems. */
function corruptImages(r: LoadResult): DataProblem[] {
  const out: DataProblem[] = [];
  const seen = new Map<string, string | undefined>();
  for (const it of r.items) {
    if (!seen.has(it.imagePath)) {
      let reason: string | undefined;
      try {
        decodeImage(readFileSync(it.imagePath), it.imagePath);
      } catch (e) {
        if (!(e instanceof ImageError)) throw e;
        reason = e.reason;
      }
      seen.set(it.imagePath, reason);
    }
    const reason = seen.get(it.imagePath);
    if (reason !== undefined) out.push({ path: it.imagePath, reason, itemId: it.id });
  }
  return out;
}

function splitReport(r: LoadResult, corrupt: readonly DataProblem[]): SplitReport {
  const bad = new Set(corrupt.map((p) => p.itemId));
  const usable = r.items.filter((it) => !bad.has(it.id));
  return {
    read: r.total,
    usable: usable.length,
    open: usable.filter((it) => it.answerType === 'OPEN').length,
    closed: usable.filter((it) => it.answerType === 'CLOSED').length,
    missingImages: r.problems.filter((p) => !p.malformed).length,
    corruptImages: corrupt.length,
    malformed: r.problems.filter((p) => p.malformed).length,
  };
}

/** The first `o.show` items of the first training batch (the eval split when training has none), as the model of `o.modelFile` sees them. */
function modelSamples(spec: string, o: DataCliOptions): Sample[] | undefined {
  const fe = compileFrontEnd({ host: fileHost(), file: o.modelFile!, model: o.model, training: false });
  if (report(fe)) return undefined;
  const ds = openVqaDataset(spec, fe.result!.model, o.seed, { vocabPath: o.vocab, strict: o.strict, warn: () => {} });
  const split = ds.items('train').length > 0 ? 'train' : 'eval';
  const n = Math.min(o.show, ds.items(split).length);
  if (n === 0) return [];
  const b = ds.batch(0, n, split);
  const tok = ds.tokenizer;
  const row = (name: string, i: number): number[] | undefined => {
    const v = b.inputs[name];
    return v ? Array.from(v.slice((i * v.length) / n, ((i + 1) * v.length) / n)) : undefined;
  };
  const shape = vqaInputShape(fe.result!.model, spec);
  const image = b.inputs.image!;
  const plane = image.length / n;
  return b.items.map((it, i): Sample => {
    const px = image.subarray(i * plane, (i + 1) * plane);
    let min = Infinity;
    let max = -Infinity;
    let sum = 0;
    for (const v of px) {
      min = Math.min(min, v);
      max = Math.max(max, v);
      sum += v;
    }
    const q = row('question', i)!;
    const a = row('answer', i);
    const cls = row('answer_class', i);
    return {
      split,
      id: it.id,
      // Instruction items: the template drawn for the first epoch, as the ids are.
      question: it.questionPool ? instructionQuestion(it, 0, o.seed) : it.question,
      answer: it.answer,
      answerType: it.answerType,
      questionIds: q,
      questionTokens: tokens(tok, q),
      ...(a ? { answerIds: a, answerTokens: tokens(tok, a) } : {}),
      ...(cls ? { answerClass: cls[0]! } : {}),
      image: { shape: [shape.channels, shape.imageSize, shape.imageSize], min, max, mean: sum / px.length },
    };
  });
}

function tokens(tok: WordPieceTokenizer, ids: readonly number[]): string[] {
  return ids.map((id) => tok.vocab[id] ?? '[UNK]');
}

/** `[PAD] [PAD] [PAD]` as `[PAD]×3`. */
function runs(toks: readonly string[]): string {
  const out: string[] = [];
  for (let i = 0; i < toks.length;) {
    let j = i;
    while (j < toks.length && toks[j] === toks[i]) j++;
    out.push(j - i > 2 ? `${toks[i]}×${j - i}` : toks.slice(i, j).join(' '));
    i = j;
  }
  return out.join(' ');
}

function printReport(r: DataReport): string {
  const lines: string[] = [`${r.spec}: ${r.layout}`, `files: ${r.files.join(', ') || '(none)'}`, ''];
  const head = ['split', 'read', 'usable', 'open', 'closed', 'missing images', 'corrupt images', 'malformed'];
  const rows = (['train', 'eval'] as const).map((s) => {
    const x = r.splits[s];
    return [s, x.read, x.usable, x.open, x.closed, x.missingImages, x.corruptImages, x.malformed].map(String);
  });
  const width = head.map((h, c) => Math.max(h.length, ...rows.map((row) => row[c]!.length)));
  for (const row of [head, ...rows]) lines.push(row.map((v, c) => (c === 0 ? v.padEnd(width[c]!) : v.padStart(width[c]!))).join('  '));
  lines.push('', `answer list: ${r.answerList.size} answers (${r.answerList.source})`);
  if (r.problems.length) {
    lines.push('', `${r.problems.length} item${r.problems.length === 1 ? '' : 's'} skipped:`);
    for (const p of r.problems)
      lines.push(`  ${p.path}: ${p.reason}${p.itemId !== undefined && !p.malformed ? ` (item ${p.itemId})` : ''}`);
  }
  for (const s of r.samples ?? []) {
    lines.push('', `${s.split} item ${s.id} (${s.answerType}): ${JSON.stringify(s.question)} → ${JSON.stringify(s.answer)}`);
    lines.push(`  question  ${runs(s.questionTokens)}`, `            [${s.questionIds.join(', ')}]`);
    if (s.answerIds) lines.push(`  answer    ${runs(s.answerTokens!)}`, `            [${s.answerIds.join(', ')}]`);
    if (s.answerClass !== undefined) lines.push(`  answer_class ${s.answerClass}${s.answerClass < 0 ? ' (not in the answer list)' : ''}`);
    const im = s.image;
    lines.push(`  image     ${im.shape.join('×')}, min ${im.min.toFixed(3)}, max ${im.max.toFixed(3)}, mean ${im.mean.toFixed(3)}`);
  }
  return lines.join('\n') + '\n';
}
