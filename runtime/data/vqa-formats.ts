/**
 * Loaders for the public medical VQA formats, all producing the same item list:
 *
 *   VQA-RAD      items {image_name, question, answer, answer_type: OPEN|CLOSED, phrase_type, …} in one of
 *                two layouts (`vqaRadLayout`): the OSF release, one JSON list
 *                (`VQA_RAD Dataset Public.json`) and `VQA_RAD Image Folder/`, whose test split is
 *                the items whose `phrase_type` starts with `test`; or the preprocessed folder most
 *                medical VQA code ships, `trainset.json` + `testset.json` (the file is the split),
 *                often `answer_list.json` (the classifier's answer list) and `images/`.
 *   SLAKE        a folder with train.json / validate.json / test.json of
 *                {img_name (relative to imgs/), question, answer, answer_type, q_lang, …};
 *                English (`q_lang: en`) only by default. A folder holding `Slake1.0/` means that one.
 *   instruction  the study's instruction format (MILE `VQA_Instruction_dataset`): a JSON list (or
 *                JSON lines) of {img_name, qid, answer, question_pool: [template, …]}. One template
 *                is drawn per item and epoch (`instructionQuestion`), deterministically from the seed.
 *                The format has no answer type: yes/no answers are CLOSED, the rest OPEN.
 *
 * Errors: a malformed file (bad JSON, with line:column and offset; not a list) throws
 * `VqaFormatError` whose message starts with the file's path. A malformed item (missing field,
 * wrong type, empty answer) is, like a missing image, a `DataProblem` {path, reason, itemId}:
 * the reason names the item index and field, and the item is excluded from the usable list
 * (counted, reported, never silent); with `strict` it throws instead. Corrupt images are found
 * when decoded (runtime/data/images.ts) and reported the same way by the dataset.
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { pcgHash } from '../../compiler/ops/hash.ts';
import { normalizeAnswer } from './answers.ts';
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
  /** Set for an item of the data file that was malformed (`path` is the file, `reason` starts `item K: `). */
  malformed?: true;
}

export interface LoadResult {
  /** Items whose image exists; the ones with problems are in `problems`, not here. */
  items: VqaItem[];
  problems: DataProblem[];
  /** Items read from the file(s) before any were excluded. */
  total: number;
  /** The data files read. */
  files?: string[];
  /** The answers of the layout's answer list (`answer_list.json`), when it has one. */
  answerList?: string[];
}

/** Options every loader takes. */
export interface ItemOptions {
  /** A malformed item throws `VqaFormatError` instead of becoming a `DataProblem`. */
  strict?: boolean;
}

function listOf(path: string, j: unknown): unknown[] {
  if (!Array.isArray(j)) throw new VqaFormatError(`${path}: expected a JSON list of items, got ${j === null ? 'null' : typeof j}`);
  return j;
}

/**
 * The items `parse` makes of `list` (read from `path`); `parse` returns undefined for an item
 * outside the selection (split, language) and throws `VqaFormatError` for a malformed one, which
 * becomes a problem (or, with `strict`, is rethrown). `total` counts the items selected, malformed
 * ones included.
 */
function readItems(
  path: string,
  list: readonly unknown[],
  opts: ItemOptions,
  parse: (o: Obj, k: number) => VqaItem | undefined,
  /** Whether an item that is not an object is in the selection (it has no split or language to tell). */
  nonObjects = true,
): { items: VqaItem[]; malformed: DataProblem[] } {
  const items: VqaItem[] = [];
  const malformed: DataProblem[] = [];
  list.forEach((x, k) => {
    try {
      if (typeof x !== 'object' || x === null || Array.isArray(x)) {
        if (!nonObjects) return;
        throw new VqaFormatError(
          `${path}: item ${k}: expected an object, got ${Array.isArray(x) ? 'a list' : x === null ? 'null' : typeof x}`,
        );
      }
      const it = parse(x as Obj, k);
      if (it) items.push(it);
    } catch (e) {
      if (opts.strict || !(e instanceof VqaFormatError)) throw e;
      const reason = e.message.startsWith(`${path}: `) ? e.message.slice(path.length + 2) : e.message;
      const itemId = typeof x === 'object' && x !== null && !Array.isArray(x) ? idOf(x as Obj, k) : String(k);
      malformed.push({ path, reason, itemId, malformed: true });
    }
  });
  return { items, malformed };
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

/** Splits items whose image is missing into problems; `malformed` items come first among the problems and count in `total`. */
function checkImages(items: VqaItem[], malformed: DataProblem[] = []): LoadResult {
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
  return { items: ok, problems: [...malformed, ...problems], total: items.length + malformed.length };
}

// ---------------------------------------------------------------------------------------------
// VQA-RAD.

export interface VqaRadOptions extends ItemOptions {
  /**
   * Default 'all'. In the OSF layout `test` is the items whose phrase_type starts with "test" and
   * `train` the others; in the split-file layout each is its file.
   */
  split?: 'train' | 'test' | 'all';
  /** Image folder; default: `VQA_RAD Image Folder`, `images` or `imgs` next to the JSON, else its folder. */
  imageDir?: string;
}

/** Where the files of a VQA-RAD dataset are (`vqaRadLayout`). */
export type VqaRadLayout =
  | { kind: 'osf'; root: string; file: string; answerList?: string }
  | { kind: 'split-files'; root: string; train?: string; test?: string; answerList?: string };

const RAD_STD = 'VQA_RAD Dataset Public.json';
const TRAIN_FILES = ['trainset.json', 'train.json'];
const TEST_FILES = ['testset.json', 'test.json'];
const ANSWER_LIST_FILES = ['answer_list.json'];

function isFile(p: string): boolean {
  return existsSync(p) && statSync(p).isFile();
}

function firstFile(root: string, names: readonly string[]): string | undefined {
  return names.map((n) => join(root, n)).find(isFile);
}

/**
 * The layout of `vqa-rad:PATH`. A folder: `VQA_RAD Dataset Public.json` (OSF), else
 * `trainset.json`/`testset.json` (or `train.json`/`test.json`), else its only .json besides
 * `answer_list.json` (OSF). A file: `trainset.json` or `testset.json` is that split (its sibling,
 * when present, the other one); any other file is OSF. `answer_list.json` next to the data is used either way.
 */
export function vqaRadLayout(path: string): VqaRadLayout {
  const isDir = existsSync(path) && statSync(path).isDirectory();
  const root = isDir ? path : dirname(path);
  const answerList = firstFile(root, ANSWER_LIST_FILES);
  if (!isDir) {
    const name = basename(path);
    if (TRAIN_FILES.includes(name)) return { kind: 'split-files', root, train: path, test: firstFile(root, TEST_FILES), answerList };
    if (TEST_FILES.includes(name)) return { kind: 'split-files', root, train: firstFile(root, TRAIN_FILES), test: path, answerList };
    return { kind: 'osf', root, file: path, answerList };
  }
  if (isFile(join(path, RAD_STD))) return { kind: 'osf', root, file: join(path, RAD_STD), answerList };
  const train = firstFile(path, TRAIN_FILES);
  const test = firstFile(path, TEST_FILES);
  if (train || test) return { kind: 'split-files', root, train, test, answerList };
  const jsons = readdirSync(path).filter((f) => f.endsWith('.json') && !ANSWER_LIST_FILES.includes(f));
  if (jsons.length !== 1)
    throw new VqaFormatError(
      `${path}: expected \`${RAD_STD}\`, \`trainset.json\`/\`testset.json\`, or exactly one .json file, found ${jsons.length === 0 ? 'none' : jsons.join(', ')}`,
    );
  return { kind: 'osf', root, file: join(path, jsons[0]!), answerList };
}

/**
 * An answer list file: a JSON list of answers, or an object mapping each answer to its index
 * (`ans2label`). The answers normalised (`normalizeAnswer`), in the file's order, each once.
 */
export function loadAnswerList(path: string): string[] {
  const j = readJsonFile(path);
  let raw: unknown[];
  if (Array.isArray(j)) raw = j;
  else if (typeof j === 'object' && j !== null) {
    const entries = Object.entries(j as Obj);
    if (!entries.every(([, v]) => typeof v === 'number'))
      throw new VqaFormatError(`${path}: expected a list of answers or an object {answer: index}`);
    raw = entries.sort((a, b) => (a[1] as number) - (b[1] as number)).map(([k]) => k);
  } else
    throw new VqaFormatError(`${path}: expected a list of answers or an object {answer: index}, got ${j === null ? 'null' : typeof j}`);
  raw.forEach((a, k) => {
    if (typeof a !== 'string' && typeof a !== 'number') throw new VqaFormatError(`${path}: answer ${k} must be a string, got ${typeof a}`);
  });
  return [...new Set(raw.map((a) => normalizeAnswer(String(a))))];
}

function findImageDir(root: string, names: readonly string[]): string {
  for (const n of names) {
    const p = join(root, n);
    if (existsSync(p) && statSync(p).isDirectory()) return p;
  }
  return root;
}

/** PATH: a VQA-RAD file or folder in either layout (`vqaRadLayout`). */
export function loadVqaRad(path: string, opts: VqaRadOptions = {}): LoadResult {
  const layout = vqaRadLayout(path);
  const imageDir = opts.imageDir ?? findImageDir(layout.root, ['VQA_RAD Image Folder', 'images', 'imgs']);
  const split = opts.split ?? 'all';
  const answerList = layout.answerList ? loadAnswerList(layout.answerList) : undefined;
  // The files to read, each with the test-split rule for its items.
  // An OSF item that is not an object counts with the training split.
  const sources: { file: string; isTest: (o: Obj) => boolean; nonObjects: boolean }[] = [];
  if (layout.kind === 'osf')
    sources.push({
      file: layout.file,
      isTest: (o) => typeof o.phrase_type === 'string' && o.phrase_type.startsWith('test'),
      nonObjects: split !== 'test',
    });
  else {
    if (layout.train && split !== 'test') sources.push({ file: layout.train, isTest: () => false, nonObjects: true });
    if (layout.test && split !== 'train') sources.push({ file: layout.test, isTest: () => true, nonObjects: true });
  }
  const items: VqaItem[] = [];
  const malformed: DataProblem[] = [];
  for (const { file, isTest, nonObjects } of sources) {
    const r = readItems(
      file,
      listOf(file, readJsonFile(file)),
      opts,
      (o, k) => {
        if (split !== 'all' && (split === 'test') !== isTest(o)) return undefined;
        const image = field(file, k, o, 'image_name', 'string');
        const question = field(file, k, o, 'question', 'string');
        const answer = field(file, k, o, 'answer', 'answer');
        const answerType = answerTypeOf(file, k, o);
        return { id: idOf(o, k), imagePath: join(imageDir, image), question, answer, answerType };
      },
      nonObjects,
    );
    items.push(...r.items);
    malformed.push(...r.malformed);
  }
  const files = sources.map((s) => s.file);
  return { ...checkImages(items, malformed), files, ...(answerList ? { answerList } : {}) };
}

// ---------------------------------------------------------------------------------------------
// SLAKE.

export interface SlakeOptions extends ItemOptions {
  /** Default 'train'. */
  split?: 'train' | 'validate' | 'test';
  /** `q_lang` to keep; default 'en'; 'all' keeps every language. */
  lang?: string;
  /** Default `<PATH>/imgs`. */
  imageDir?: string;
}

/** The SLAKE folder of `path`: itself, or its `Slake1.0/` when it has no `train.json` but that. */
export function slakeRoot(path: string): string {
  const inner = join(path, 'Slake1.0');
  if (!isFile(join(path, 'train.json')) && existsSync(inner) && statSync(inner).isDirectory()) return inner;
  return path;
}

export function loadSlake(path: string, opts: SlakeOptions = {}): LoadResult {
  const split = opts.split ?? 'train';
  const isDir = existsSync(path) && statSync(path).isDirectory();
  const root = isDir ? slakeRoot(path) : dirname(path);
  const file = isDir ? join(root, `${split}.json`) : path;
  const list = listOf(file, readJsonFile(file));
  const imageDir = opts.imageDir ?? findImageDir(root, ['imgs', 'images']);
  const lang = opts.lang ?? 'en';
  const r = readItems(file, list, opts, (o, k) => {
    // Another language's item is outside the selection, even when malformed.
    if (lang !== 'all' && typeof o.q_lang === 'string' && o.q_lang !== lang) return undefined;
    const image = field(file, k, o, 'img_name', 'string');
    const question = field(file, k, o, 'question', 'string');
    const answer = field(file, k, o, 'answer', 'answer');
    const answerType = answerTypeOf(file, k, o);
    const qlang = field(file, k, o, 'q_lang', 'string');
    if (lang !== 'all' && qlang !== lang) return undefined;
    return { id: idOf(o, k), imagePath: join(imageDir, image), question, answer, answerType };
  });
  return { ...checkImages(r.items, r.malformed), files: [file] };
}

// ---------------------------------------------------------------------------------------------
// The study's instruction format.

export interface InstructionOptions extends ItemOptions {
  /** Default: `images` or `imgs` next to the file, else its folder. */
  imageDir?: string;
}

const CLOSED_ANSWERS = new Set(['yes', 'no']);

export function loadInstruction(path: string, opts: InstructionOptions = {}): LoadResult {
  const raw = /\.(jsonl|jsol)$/.test(path) ? readJsonLines(path) : readJsonFile(path);
  const list = listOf(path, raw);
  const imageDir = opts.imageDir ?? findImageDir(dirname(path), ['images', 'imgs']);
  const r = readItems(path, list, opts, (o, k) => {
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
    return {
      id: String(o.qid),
      imagePath: join(imageDir, image),
      question: pool[0] as string,
      answer,
      answerType,
      questionPool: pool as string[],
    };
  });
  return { ...checkImages(r.items, r.malformed), files: [path] };
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

/**
 * Loads `vqa-rad:PATH`, `slake:PATH` or `instruction:PATH` (train and eval splits). A malformed
 * item is a problem of the split it was read for (with `strict`, an error).
 */
export function loadVqaSpec(spec: string, opts: ItemOptions = {}): { train: LoadResult; eval: LoadResult; instruction: boolean } {
  const colon = spec.indexOf(':');
  const kind = colon < 0 ? spec : spec.slice(0, colon);
  const path = colon < 0 ? '' : spec.slice(colon + 1);
  if (!path) throw new VqaFormatError(`--data ${kind} needs a path: \`${kind}:PATH\``);
  switch (kind) {
    case 'vqa-rad':
      return {
        train: loadVqaRad(path, { ...opts, split: 'train' }),
        eval: loadVqaRad(path, { ...opts, split: 'test' }),
        instruction: false,
      };
    case 'slake':
      return {
        train: loadSlake(path, { ...opts, split: 'train' }),
        eval: loadSlake(path, { ...opts, split: 'test' }),
        instruction: false,
      };
    case 'instruction': {
      // One file: every 10th usable item (index % 10 == 9; the last one when there are fewer
      // than 10) is held out for evaluation.
      const all = loadInstruction(path, opts);
      const n = all.items.length;
      const held = (k: number): boolean => (n < 10 ? k === n - 1 && n > 1 : k % 10 === 9);
      // The problems (and the items they excluded) count with the training split.
      const part = (keep: (k: number) => boolean, problems: DataProblem[]): LoadResult => {
        const items = all.items.filter((_, k) => keep(k));
        return { items, problems, total: items.length + problems.length, files: all.files };
      };
      return { train: part((k) => !held(k), all.problems), eval: part(held, []), instruction: true };
    }
    default:
      throw new VqaFormatError(`unknown VQA dataset kind \`${kind}\``);
  }
}
