/**
 * Loaders for the public medical VQA formats, all producing the same item list:
 *
 *   VQA-RAD      one JSON list of {image_name, question, answer, answer_type: OPEN|CLOSED, phrase_type, …}
 *                and an image folder (`VQA_RAD Image Folder/` in the public release). No official
 *                split file: items whose `phrase_type` starts with `test` are the test split.
 *   SLAKE        a folder with train.json / validate.json / test.json of
 *                {img_name (relative to imgs/), question, answer, answer_type, q_lang, …};
 *                English (`q_lang: en`) only by default.
 *   instruction  the study's instruction format (MILE `VQA_Instruction_dataset`): a JSON list (or
 *                JSON lines) of {img_name, qid, answer, question_pool: [template, …]}. One template
 *                is drawn per item and epoch (`instructionQuestion`), deterministically from the seed.
 *                The format has no answer type: yes/no answers are CLOSED, the rest OPEN.
 *
 * Errors: a malformed file throws `VqaFormatError` whose message starts with the file's path
 * (bad JSON with line:column and offset; missing field or wrong type with the item index and
 * field name). A missing image is not an error: it becomes a `DataProblem` {path, reason} and the
 * item is excluded from the usable list (counted, reported, never silent). Corrupt images are
 * found when decoded (runtime/data/images.ts) and reported the same way by the dataset.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { pcgHash } from '../../compiler/ops/hash.ts';
import type { ElaboratedModel } from '../../compiler/sema/instance.ts';
import { ImageCache, ImageError } from './images.ts';
import type { Batch, Split } from './synthetic.ts';
import { loadTokenizer, type WordPieceTokenizer } from '../tokenizer/wordpiece.ts';
import { normalizeAnswer } from '../metrics.ts';

export type AnswerType = 'OPEN' | 'CLOSED';

export interface VqaItem {
  id: string;
  imagePath: string;
  question: string;
  answer: string;
  answerType: AnswerType;
  /** Instruction format only: the templates to draw the question from (`question` is the first). */
  questionPool?: readonly string[];
}

export interface DataProblem {
  path: string;
  reason: string;
  /** The item(s) affected. */
  itemId?: string;
}

export interface LoadResult {
  /** Items whose image exists; the ones with problems are in `problems`, not here. */
  items: VqaItem[];
  problems: DataProblem[];
  /** Items read from the file(s) before any were excluded. */
  total: number;
}

export class VqaFormatError extends Error {}

// ---------------------------------------------------------------------------------------------
// JSON with located errors. JSON.parse's messages vary by engine and often lack the position,
// so on failure a small validating scanner finds where and why.

function lineCol(text: string, offset: number): string {
  let line = 1;
  let col = 1;
  for (let i = 0; i < offset && i < text.length; i++) {
    if (text[i] === '\n') {
      line++;
      col = 1;
    } else col++;
  }
  return `line ${line}, column ${col} (offset ${offset})`;
}

/** Returns the offset and reason of the first JSON syntax error, or undefined when valid. */
export function jsonSyntaxError(text: string): { offset: number; reason: string } | undefined {
  let i = 0;
  class Stop extends Error {
    constructor(
      readonly at: number,
      readonly why: string,
    ) {
      super(why);
    }
  }
  const ws = (): void => {
    while (i < text.length && ' \t\n\r'.includes(text[i]!)) i++;
  };
  const desc = (): string => (i >= text.length ? 'unexpected end of input' : `unexpected ${JSON.stringify(text[i])}`);
  const value = (): void => {
    ws();
    const c = text[i];
    if (c === '{') {
      i++;
      ws();
      if (text[i] === '}') {
        i++;
        return;
      }
      for (;;) {
        ws();
        if (text[i] !== '"') throw new Stop(i, `${desc()}, expected a property name`);
        str();
        ws();
        if (text[i] !== ':') throw new Stop(i, `${desc()}, expected ':'`);
        i++;
        value();
        ws();
        if (text[i] === ',') {
          i++;
          continue;
        }
        if (text[i] === '}') {
          i++;
          return;
        }
        throw new Stop(i, `${desc()}, expected ',' or '}'`);
      }
    }
    if (c === '[') {
      i++;
      ws();
      if (text[i] === ']') {
        i++;
        return;
      }
      for (;;) {
        value();
        ws();
        if (text[i] === ',') {
          i++;
          continue;
        }
        if (text[i] === ']') {
          i++;
          return;
        }
        throw new Stop(i, `${desc()}, expected ',' or ']'`);
      }
    }
    if (c === '"') return str();
    const m = /^(-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?|true|false|null)/.exec(text.slice(i, i + 400));
    if (!m) throw new Stop(i, `${desc()}, expected a value`);
    i += m[0].length;
  };
  const str = (): void => {
    const start = i;
    i++;
    while (i < text.length) {
      const c = text[i]!;
      if (c === '"') {
        i++;
        return;
      }
      if (c === '\\') {
        const m = /^\\(["\\/bfnrt]|u[0-9a-fA-F]{4})/.exec(text.slice(i, i + 6));
        if (!m) throw new Stop(i, 'invalid escape in string');
        i += m[0].length;
        continue;
      }
      if (c.charCodeAt(0) < 0x20) throw new Stop(i, 'control character in string');
      i++;
    }
    throw new Stop(start, 'unterminated string');
  };
  try {
    value();
    ws();
    if (i < text.length) throw new Stop(i, `${desc()} after the JSON value`);
    return undefined;
  } catch (e) {
    if (e instanceof Stop) return { offset: e.at, reason: e.why };
    throw e;
  }
}

/** Reads and parses a JSON file; errors start with the path. */
export function readJsonFile(path: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new VqaFormatError(`${path}: cannot read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  try {
    return JSON.parse(text);
  } catch (e) {
    const at = jsonSyntaxError(text);
    if (at) throw new VqaFormatError(`${path}: invalid JSON at ${lineCol(text, at.offset)}: ${at.reason}`);
    throw new VqaFormatError(`${path}: invalid JSON: ${(e as Error).message}`);
  }
}

/** JSON lines (`.jsonl`/`.jsol`): one object per non-empty line. */
function readJsonLines(path: string): unknown[] {
  const text = readFileSync(path, 'utf8');
  const out: unknown[] = [];
  text.split(/\r?\n/).forEach((line, n) => {
    if (line.trim() === '') return;
    try {
      out.push(JSON.parse(line));
    } catch {
      const at = jsonSyntaxError(line);
      throw new VqaFormatError(`${path}: invalid JSON on line ${n + 1}${at ? `, column ${at.offset + 1}: ${at.reason}` : ''}`);
    }
  });
  return out;
}

// ---------------------------------------------------------------------------------------------
// Field validation.

type Obj = Record<string, unknown>;

function listOf(path: string, j: unknown): Obj[] {
  if (!Array.isArray(j)) throw new VqaFormatError(`${path}: expected a JSON list of items, got ${j === null ? 'null' : typeof j}`);
  j.forEach((x, k) => {
    if (typeof x !== 'object' || x === null || Array.isArray(x)) throw new VqaFormatError(`${path}: item ${k}: expected an object, got ${Array.isArray(x) ? 'a list' : x === null ? 'null' : typeof x}`);
  });
  return j as Obj[];
}

function field(path: string, k: number, o: Obj, name: string, kind: 'string' | 'text' | 'answer'): string {
  if (!(name in o)) throw new VqaFormatError(`${path}: item ${k}: missing field \`${name}\``);
  const v = o[name];
  if (typeof v === 'string') {
    if (kind !== 'text' && v.trim() === '') throw new VqaFormatError(`${path}: item ${k}: field \`${name}\` is empty`);
    return v;
  }
  // Some public answers are JSON numbers (counts); they are answers all the same.
  if (kind === 'answer' && typeof v === 'number' && Number.isFinite(v)) return String(v);
  throw new VqaFormatError(`${path}: item ${k}: field \`${name}\` must be a string, got ${v === null ? 'null' : Array.isArray(v) ? 'a list' : typeof v}`);
}

function answerTypeOf(path: string, k: number, o: Obj): AnswerType {
  const raw = field(path, k, o, 'answer_type', 'string');
  const t = raw.trim().toUpperCase();
  if (t !== 'OPEN' && t !== 'CLOSED') throw new VqaFormatError(`${path}: item ${k}: field \`answer_type\` must be OPEN or CLOSED, got ${JSON.stringify(raw)}`);
  return t;
}

function idOf(o: Obj, k: number): string {
  const q = o.qid;
  return typeof q === 'number' || typeof q === 'string' ? String(q) : String(k);
}

/** Splits items whose image is missing into problems. */
function checkImages(items: VqaItem[]): LoadResult {
  const ok: VqaItem[] = [];
  const problems: DataProblem[] = [];
  const seen = new Map<string, boolean>();
  for (const it of items) {
    let exists = seen.get(it.imagePath);
    if (exists === undefined) {
      exists = existsSync(it.imagePath) && statSync(it.imagePath).isFile();
      seen.set(it.imagePath, exists);
    }
    if (exists) ok.push(it);
    else problems.push({ path: it.imagePath, reason: 'missing image', itemId: it.id });
  }
  return { items: ok, problems, total: items.length };
}

// ---------------------------------------------------------------------------------------------
// VQA-RAD.

export interface VqaRadOptions {
  /** Default 'all'. `test`: items whose phrase_type starts with "test"; `train`: the others. */
  split?: 'train' | 'test' | 'all';
  /** Image folder; default: `VQA_RAD Image Folder`, `images` or `imgs` next to the JSON, else its folder. */
  imageDir?: string;
}

function findImageDir(root: string, names: readonly string[]): string {
  for (const n of names) {
    const p = join(root, n);
    if (existsSync(p) && statSync(p).isDirectory()) return p;
  }
  return root;
}

/** PATH: the JSON file, or a folder holding it (`VQA_RAD Dataset Public.json`, or its only .json). */
export function loadVqaRad(path: string, opts: VqaRadOptions = {}): LoadResult {
  let file = path;
  if (existsSync(path) && statSync(path).isDirectory()) {
    const std = join(path, 'VQA_RAD Dataset Public.json');
    if (existsSync(std)) file = std;
    else {
      const jsons = readdirSync(path).filter((f) => f.endsWith('.json'));
      if (jsons.length !== 1) throw new VqaFormatError(`${path}: expected \`VQA_RAD Dataset Public.json\` or exactly one .json file, found ${jsons.length === 0 ? 'none' : jsons.join(', ')}`);
      file = join(path, jsons[0]!);
    }
  }
  const list = listOf(file, readJsonFile(file));
  const imageDir = opts.imageDir ?? findImageDir(dirname(file), ['VQA_RAD Image Folder', 'images', 'imgs']);
  const split = opts.split ?? 'all';
  const items: VqaItem[] = [];
  list.forEach((o, k) => {
    const image = field(file, k, o, 'image_name', 'string');
    const question = field(file, k, o, 'question', 'string');
    const answer = field(file, k, o, 'answer', 'answer');
    const answerType = answerTypeOf(file, k, o);
    const phrase = typeof o.phrase_type === 'string' ? o.phrase_type : '';
    const isTest = phrase.startsWith('test');
    if (split === 'all' || (split === 'test') === isTest) items.push({ id: idOf(o, k), imagePath: join(imageDir, image), question, answer, answerType });
  });
  return checkImages(items);
}

// ---------------------------------------------------------------------------------------------
// SLAKE.

export interface SlakeOptions {
  /** Default 'train'. */
  split?: 'train' | 'validate' | 'test';
  /** `q_lang` to keep; default 'en'; 'all' keeps every language. */
  lang?: string;
  /** Default `<PATH>/imgs`. */
  imageDir?: string;
}

export function loadSlake(path: string, opts: SlakeOptions = {}): LoadResult {
  const split = opts.split ?? 'train';
  const isDir = existsSync(path) && statSync(path).isDirectory();
  const file = isDir ? join(path, `${split}.json`) : path;
  const root = isDir ? path : dirname(path);
  const list = listOf(file, readJsonFile(file));
  const imageDir = opts.imageDir ?? findImageDir(root, ['imgs', 'images']);
  const lang = opts.lang ?? 'en';
  const items: VqaItem[] = [];
  list.forEach((o, k) => {
    const image = field(file, k, o, 'img_name', 'string');
    const question = field(file, k, o, 'question', 'string');
    const answer = field(file, k, o, 'answer', 'answer');
    const answerType = answerTypeOf(file, k, o);
    const qlang = field(file, k, o, 'q_lang', 'string');
    if (lang === 'all' || qlang === lang) items.push({ id: idOf(o, k), imagePath: join(imageDir, image), question, answer, answerType });
  });
  return checkImages(items);
}

// ---------------------------------------------------------------------------------------------
// The study's instruction format.

export interface InstructionOptions {
  /** Default: `images` or `imgs` next to the file, else its folder. */
  imageDir?: string;
}

const CLOSED_ANSWERS = new Set(['yes', 'no']);

export function loadInstruction(path: string, opts: InstructionOptions = {}): LoadResult {
  const raw = /\.(jsonl|jsol)$/.test(path) ? readJsonLines(path) : readJsonFile(path);
  const list = listOf(path, raw);
  const imageDir = opts.imageDir ?? findImageDir(dirname(path), ['images', 'imgs']);
  const items: VqaItem[] = [];
  list.forEach((o, k) => {
    const image = field(path, k, o, 'img_name', 'string');
    const answer = field(path, k, o, 'answer', 'answer');
    if (!('qid' in o)) throw new VqaFormatError(`${path}: item ${k}: missing field \`qid\``);
    if (typeof o.qid !== 'number' && typeof o.qid !== 'string') throw new VqaFormatError(`${path}: item ${k}: field \`qid\` must be a number or string, got ${o.qid === null ? 'null' : typeof o.qid}`);
    if (!('question_pool' in o)) throw new VqaFormatError(`${path}: item ${k}: missing field \`question_pool\``);
    const pool = o.question_pool;
    if (!Array.isArray(pool)) throw new VqaFormatError(`${path}: item ${k}: field \`question_pool\` must be a list of strings, got ${pool === null ? 'null' : typeof pool}`);
    if (pool.length === 0) throw new VqaFormatError(`${path}: item ${k}: field \`question_pool\` is empty`);
    pool.forEach((t, j) => {
      if (typeof t !== 'string') throw new VqaFormatError(`${path}: item ${k}: \`question_pool[${j}]\` must be a string, got ${typeof t}`);
    });
    const answerType: AnswerType = CLOSED_ANSWERS.has(answer.trim().toLowerCase()) ? 'CLOSED' : 'OPEN';
    items.push({ id: String(o.qid), imagePath: join(imageDir, image), question: pool[0] as string, answer, answerType, questionPool: pool as string[] });
  });
  return checkImages(items);
}

/** The question of `item` in `epoch`: one template of its pool, a pure function of (seed, item id, epoch). */
export function instructionQuestion(item: VqaItem, epoch: number, seed: number): string {
  const pool = item.questionPool;
  if (!pool || pool.length === 0) return item.question;
  let h = pcgHash((seed >>> 0) ^ pcgHash(Math.floor(seed / 4294967296) >>> 0));
  for (const ch of item.id) h = pcgHash(h ^ ch.charCodeAt(0));
  h = pcgHash(h ^ pcgHash(epoch >>> 0));
  return pool[Math.floor((h / 4294967296) * pool.length)]!;
}

/** `name` of a spec path, for descriptions. */
export function shortName(path: string): string {
  return basename(path);
}

// ---------------------------------------------------------------------------------------------
// Feeding a model: items -> inputs `image` f32[B, C, S, S], `question` i32[B, qlen], `answer` i32[B, alen]
// and/or `answer_class` i32[B] (the answer's index in the answer list, -1 when it has none).


export interface VqaInputShape {
  channels: number;
  imageSize: number;
  qlen: number;
  /** Length of input `answer: i32[B, alen]`; 0 when the model has no `answer` (a classifier). */
  alen: number;
  /** Whether the model has input `answer: i32[B, alen]` (the decoder's target). */
  answer: boolean;
  /** Whether the model has input `answer_class: i32[B]` (index in the answer list, for a classifier head). */
  answerClass: boolean;
}

/**
 * Reads the sizes of inputs `image: f32[B, C, S, S]`, `question: i32[B, qlen]`, and
 * `answer: i32[B, alen]` and/or `answer_class: i32[B]` (at least one of the two).
 */
export function vqaInputShape(model: ElaboratedModel, spec: string): VqaInputShape {
  const dim = (d: unknown, what: string): number => {
    if (typeof d === 'number') return d;
    const v = typeof d === 'string' ? model.config.get(d) : undefined;
    if (v && v.kind === 'int' && typeof v.v === 'number') return v.v;
    throw new VqaFormatError(`--data ${spec}: ${what} of \`${model.name}\` must be a concrete size, got ${String(d)}`);
  };
  const mismatch = (): VqaFormatError =>
    new VqaFormatError(
      `--data ${spec} feeds inputs \`image: f32[B, C, S, S]\`, \`question: i32[B, qlen]\` and \`answer: i32[B, alen]\` (or \`answer_class: i32[B]\`, for a classifier head); \`${model.name}\` has ${model.inputs.map((x) => `\`${x.name}\``).join(', ')}`,
    );
  const find = (name: string, dtype: string, rank: number, optional = false): readonly unknown[] | undefined => {
    const i = model.inputs.find((x) => x.name === name);
    if (!i && optional) return undefined;
    if (!i || i.dtype !== dtype || i.shape.length !== rank) throw mismatch();
    return i.shape;
  };
  const img = find('image', 'f32', 4)!;
  const q = find('question', 'i32', 2)!;
  const cls = find('answer_class', 'i32', 1, true);
  const a = find('answer', 'i32', 2, cls !== undefined);
  const h = dim(img[2], 'the image height');
  const w = dim(img[3], 'the image width');
  if (h !== w) throw new VqaFormatError(`--data ${spec}: square images only, \`${model.name}\` wants ${h}x${w}`);
  return {
    channels: dim(img[1], 'the image channels'),
    imageSize: h,
    qlen: dim(q[1], 'the question length'),
    alen: a ? dim(a[1], 'the answer length') : 0,
    answer: a !== undefined,
    answerClass: cls !== undefined,
  };
}

/**
 * The answer list of a file dataset: the sorted (JavaScript's default, UTF-16 code unit
 * order) distinct normalised answers (`normalizeAnswer`, as the metrics compare) of `items`,
 * the training split.
 */
export function answerList(items: readonly VqaItem[]): string[] {
  return [...new Set(items.map((it) => normalizeAnswer(it.answer)))].sort();
}

/** Index of `answer`, normalised, in `list`, or -1 when the list lacks it. */
export function answerIndex(list: readonly string[]): (answer: string) => number {
  const at = new Map(list.map((a, i) => [a, i]));
  return (answer) => at.get(normalizeAnswer(answer)) ?? -1;
}

/**
 * A classifier (input `answer_class`) needs an integer `answers` in its config equal to the
 * answer list's length: the width of its head.
 */
export function checkAnswerCount(model: ElaboratedModel, spec: string, list: readonly string[]): void {
  const v = model.config.get('answers');
  const got = v && v.kind === 'int' && typeof v.v === 'number' ? v.v : undefined;
  if (got === list.length) return;
  const sample = list.slice(0, 6).map((a) => JSON.stringify(a)).join(', ') + (list.length > 6 ? ', …' : '');
  throw new VqaFormatError(
    `--data ${spec}: the answer list has ${list.length} answers (${sample}) but \`${model.name}\` ` +
      (got === undefined ? 'has no integer `answers` in its config' : `has answers = ${got}`) +
      `; input \`answer_class\` needs \`answers = ${list.length}\``,
  );
}

export interface VqaDatasetOptions {
  /** `vocab.txt` or `tokenizer.json` (required for file datasets). */
  vocabPath?: string;
  tokenizer?: WordPieceTokenizer;
  /** First token of questions: `[ENC]` as the study's model does (BLIP replaces `[CLS]` by `[ENC]`); or `[CLS]`. */
  questionStart?: '[ENC]' | '[CLS]';
  /** Image scale and normalization (default pixels/255, no normalization, as the study). */
  scale?: number;
  normalize?: { mean: readonly number[]; std: readonly number[] };
  /** Called once per newly found corrupt image; default writes a line to stderr. */
  warn?: (p: DataProblem) => void;
}

export interface VqaBatch extends Batch {
  items: VqaItem[];
}

export interface VqaDataset {
  readonly name: string;
  readonly describe: string;
  readonly tokenizer: WordPieceTokenizer;
  /** The answer list (`answerList` of the training split): class i of input `answer_class` is `answers[i]`. */
  readonly answers: readonly string[];
  batch(step: number, batchSize: number, split: Split): VqaBatch;
  /** Usable items of a split (before corrupt images are found). */
  items(split: Split): readonly VqaItem[];
  /** Every problem so far: missing images (at load) and corrupt ones (found while batching). */
  problems(): readonly DataProblem[];
}

/** Loads `vqa-rad:PATH`, `slake:PATH` or `instruction:PATH` (train and eval splits). */
export function loadVqaSpec(spec: string): { train: LoadResult; eval: LoadResult; instruction: boolean } {
  const colon = spec.indexOf(':');
  const kind = colon < 0 ? spec : spec.slice(0, colon);
  const path = colon < 0 ? '' : spec.slice(colon + 1);
  if (!path) throw new VqaFormatError(`--data ${kind} needs a path: \`${kind}:PATH\``);
  switch (kind) {
    case 'vqa-rad':
      return { train: loadVqaRad(path, { split: 'train' }), eval: loadVqaRad(path, { split: 'test' }), instruction: false };
    case 'slake':
      return { train: loadSlake(path, { split: 'train' }), eval: loadSlake(path, { split: 'test' }), instruction: false };
    case 'instruction': {
      // One file: every 10th usable item (index % 10 == 9; the last one when there are fewer
      // than 10) is held out for evaluation.
      const all = loadInstruction(path);
      const n = all.items.length;
      const held = (k: number): boolean => (n < 10 ? k === n - 1 && n > 1 : k % 10 === 9);
      const part = (keep: (k: number) => boolean): LoadResult => ({ items: all.items.filter((_, k) => keep(k)), problems: all.problems, total: all.total });
      return { train: part((k) => !held(k)), eval: { ...part(held), problems: [] }, instruction: true };
    }
    default:
      throw new VqaFormatError(`unknown VQA dataset kind \`${kind}\``);
  }
}

/** A seeded permutation of [0, n) for one epoch (Fisher–Yates over a counter hash). */
function epochOrder(n: number, seed: number, epoch: number): Uint32Array {
  const p = new Uint32Array(n);
  for (let i = 0; i < n; i++) p[i] = i;
  const key = pcgHash((seed >>> 0) ^ pcgHash(epoch >>> 0) ^ 0x0e90_c4);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor((pcgHash((key ^ pcgHash(i)) >>> 0) / 4294967296) * (i + 1));
    const t = p[i]!;
    p[i] = p[j]!;
    p[j] = t;
  }
  return p;
}

export function openVqaDataset(spec: string, model: ElaboratedModel, seed: number, opts: VqaDatasetOptions = {}): VqaDataset {
  const shape = vqaInputShape(model, spec);
  const tok = opts.tokenizer ?? (opts.vocabPath ? loadTokenizer(opts.vocabPath) : undefined);
  if (!tok) throw new VqaFormatError(`--data ${spec} needs a BERT vocabulary: pass --vocab PATH (vocab.txt or tokenizer.json)`);
  const vocab = model.config.get('vocab');
  if (vocab && vocab.kind === 'int' && typeof vocab.v === 'number' && vocab.v < tok.size) {
    throw new VqaFormatError(`--data ${spec}: the tokenizer has ${tok.size} tokens but \`${model.name}\` has vocab = ${vocab.v}`);
  }
  const loaded = loadVqaSpec(spec);
  const splits: Record<Split, VqaItem[]> = { train: loaded.train.items, eval: loaded.eval.items };
  for (const s of ['train', 'eval'] as const) if (splits[s].length === 0) throw new VqaFormatError(`--data ${spec}: the ${s} split has no usable items`);
  const problems: DataProblem[] = [...loaded.train.problems, ...loaded.eval.problems];
  const answers = answerList(splits.train);
  if (shape.answerClass) checkAnswerCount(model, spec, answers);
  const classOf = answerIndex(answers);
  const bad = new Set<string>();
  const warn = opts.warn ?? ((p: DataProblem) => process.stderr.write(`warning: ${p.path}: ${p.reason}; item skipped\n`));
  const cache = new ImageCache({ size: shape.imageSize, channels: shape.channels === 1 ? 1 : 3, scale: opts.scale, normalize: opts.normalize }, 512);
  if (shape.channels !== 1 && shape.channels !== 3) throw new VqaFormatError(`--data ${spec}: images have 1 or 3 channels, \`${model.name}\` wants ${shape.channels}`);
  const qstart = opts.questionStart ?? (tok.has('[ENC]') ? '[ENC]' : '[CLS]');
  const orders = new Map<string, Uint32Array>();
  const order = (split: Split, epoch: number): Uint32Array => {
    const key = `${split}:${epoch}`;
    let o = orders.get(key);
    if (!o) {
      const n = splits[split].length;
      o = split === 'train' ? epochOrder(n, seed, epoch) : Uint32Array.from({ length: n }, (_, i) => i);
      if (orders.size > 8) orders.clear();
      orders.set(key, o);
    }
    return o;
  };
  const plane = shape.imageSize * shape.imageSize * shape.channels;
  return {
    name: spec.split(':')[0]!,
    describe:
      `${spec}: ${splits.train.length} train / ${splits.eval.length} eval items` +
      (problems.length ? `; ${problems.length} excluded (${problems.slice(0, 3).map((p) => `${p.path}: ${p.reason}`).join('; ')}${problems.length > 3 ? '; …' : ''})` : ''),
    tokenizer: tok,
    answers,
    items: (split) => splits[split],
    problems: () => problems,
    batch(step, batchSize, split) {
      const list = splits[split];
      const n = list.length;
      const image = new Float32Array(batchSize * plane);
      const question = new Int32Array(batchSize * shape.qlen);
      const answer = new Int32Array(batchSize * shape.alen);
      const answerClass = new Int32Array(batchSize);
      const items: VqaItem[] = [];
      for (let b = 0; b < batchSize; b++) {
        let g = step * batchSize + b;
        // A corrupt image: reported once, then the next item in order takes its place.
        for (let tries = 0; ; tries++, g++) {
          if (tries > n) throw new VqaFormatError(`--data ${spec}: every image of the ${split} split failed to decode (${problems.length} problems)`);
          const epoch = Math.floor(g / n);
          const it = list[order(split, epoch)[g % n]!]!;
          if (bad.has(it.imagePath)) continue;
          let px: Float32Array;
          try {
            px = cache.get(it.imagePath);
          } catch (e) {
            if (!(e instanceof ImageError)) throw e;
            bad.add(it.imagePath);
            const p = { path: e.path, reason: e.reason, itemId: it.id };
            problems.push(p);
            warn(p);
            continue;
          }
          image.set(px, b * plane);
          const q = loaded.instruction ? instructionQuestion(it, epoch, seed) : it.question;
          question.set(tok.encodeQuestion(q, shape.qlen, { start: qstart }), b * shape.qlen);
          if (shape.answer) answer.set(tok.encodeAnswer(it.answer, shape.alen), b * shape.alen);
          answerClass[b] = classOf(it.answer);
          items.push(it);
          break;
        }
      }
      const inputs: Batch['inputs'] = { image, question };
      if (shape.answer) inputs.answer = answer;
      if (shape.answerClass) inputs.answer_class = answerClass;
      return { inputs, size: batchSize, items };
    },
  };
}
