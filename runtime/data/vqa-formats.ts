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
import { existsSync, readdirSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { pcgHash } from '../../compiler/ops/hash.ts';
import { readJsonFile, readJsonLines, VqaFormatError } from './json.ts';

type Obj = Record<string, unknown>;

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

function listOf(path: string, j: unknown): Obj[] {
  if (!Array.isArray(j)) throw new VqaFormatError(`${path}: expected a JSON list of items, got ${j === null ? 'null' : typeof j}`);
  j.forEach((x, k) => {
    if (typeof x !== 'object' || x === null || Array.isArray(x))
      throw new VqaFormatError(
        `${path}: item ${k}: expected an object, got ${Array.isArray(x) ? 'a list' : x === null ? 'null' : typeof x}`,
      );
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
  throw new VqaFormatError(
    `${path}: item ${k}: field \`${name}\` must be a string, got ${v === null ? 'null' : Array.isArray(v) ? 'a list' : typeof v}`,
  );
}

function answerTypeOf(path: string, k: number, o: Obj): AnswerType {
  const raw = field(path, k, o, 'answer_type', 'string');
  const t = raw.trim().toUpperCase();
  if (t !== 'OPEN' && t !== 'CLOSED')
    throw new VqaFormatError(`${path}: item ${k}: field \`answer_type\` must be OPEN or CLOSED, got ${JSON.stringify(raw)}`);
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
      if (jsons.length !== 1)
        throw new VqaFormatError(
          `${path}: expected \`VQA_RAD Dataset Public.json\` or exactly one .json file, found ${jsons.length === 0 ? 'none' : jsons.join(', ')}`,
        );
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
    if (split === 'all' || (split === 'test') === isTest)
      items.push({ id: idOf(o, k), imagePath: join(imageDir, image), question, answer, answerType });
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
    if (typeof o.qid !== 'number' && typeof o.qid !== 'string')
      throw new VqaFormatError(
        `${path}: item ${k}: field \`qid\` must be a number or string, got ${o.qid === null ? 'null' : typeof o.qid}`,
      );
    if (!('question_pool' in o)) throw new VqaFormatError(`${path}: item ${k}: missing field \`question_pool\``);
    const pool = o.question_pool;
    if (!Array.isArray(pool))
      throw new VqaFormatError(
        `${path}: item ${k}: field \`question_pool\` must be a list of strings, got ${pool === null ? 'null' : typeof pool}`,
      );
    if (pool.length === 0) throw new VqaFormatError(`${path}: item ${k}: field \`question_pool\` is empty`);
    pool.forEach((t, j) => {
      if (typeof t !== 'string') throw new VqaFormatError(`${path}: item ${k}: \`question_pool[${j}]\` must be a string, got ${typeof t}`);
    });
    const answerType: AnswerType = CLOSED_ANSWERS.has(answer.trim().toLowerCase()) ? 'CLOSED' : 'OPEN';
    items.push({
      id: String(o.qid),
      imagePath: join(imageDir, image),
      question: pool[0] as string,
      answer,
      answerType,
      questionPool: pool as string[],
    });
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
      const part = (keep: (k: number) => boolean): LoadResult => ({
        items: all.items.filter((_, k) => keep(k)),
        problems: all.problems,
        total: all.total,
      });
      return { train: part((k) => !held(k)), eval: { ...part(held), problems: [] }, instruction: true };
    }
    default:
      throw new VqaFormatError(`unknown VQA dataset kind \`${kind}\``);
  }
}
