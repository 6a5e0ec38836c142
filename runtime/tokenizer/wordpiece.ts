/**
 * BERT WordPiece tokenization (bert-base-uncased semantics), with the study's extra tokens.
 *
 * Why our own implementation rather than a library: the maintained ones either ship native
 * binaries per platform (`@huggingface/tokenizers`) or fetch vocabularies from the Hub at run
 * time (`@huggingface/transformers` by default), and nothing here may download. The algorithm
 * is small and fully specified by BERT's reference `BasicTokenizer` + `WordpieceTokenizer`:
 *
 *   1. clean: drop NUL, U+FFFD and control characters; every whitespace becomes a space;
 *   2. put spaces around CJK ideographs;
 *   3. split on whitespace; per word: lower-case, strip accents (NFD, drop combining marks),
 *      split every punctuation character into its own word;
 *   4. WordPiece per word: greedy longest-match-first against the vocabulary, pieces after
 *      the first carry the `##` prefix; a word with no full segmentation (or longer than
 *      `maxInputCharsPerWord`) becomes `[UNK]`.
 *
 * Special tokens written literally in the text (`[SEP]`, `[DEC]`, …) are kept whole, as
 * HF's tokenizer does for its special/added tokens.
 *
 * The study (BLIP's `init_tokenizer`) adds `[DEC]` as BOS and `[ENC]` as an additional special
 * token to bert-base-uncased: they take ids 30522 and 30523 (vocab 30524). `withStudyTokens`
 * appends them after the base vocabulary when it lacks them.
 */
import { readFileSync } from 'node:fs';

export class TokenizerError extends Error {}

export const PAD = '[PAD]';
export const UNK = '[UNK]';
export const CLS = '[CLS]';
export const SEP = '[SEP]';
export const MASK = '[MASK]';
export const DEC = '[DEC]';
export const ENC = '[ENC]';

export interface WordPieceOptions {
  /** Lower-case the text (uncased models). Default true. */
  lowercase?: boolean;
  /** Strip accents; default: same as `lowercase` (as BERT's BasicTokenizer). */
  stripAccents?: boolean;
  /** Default `##`. */
  continuingPrefix?: string;
  /** Words longer than this become `[UNK]`. Default 100. */
  maxInputCharsPerWord?: number;
  /** Tokens never split (kept whole when they occur in text). Default: every `[X]` token in the vocab that is BERT's or the study's. */
  specialTokens?: readonly string[];
}

export interface EncodeOptions {
  /** First token; default `[CLS]` for questions, `[DEC]` for answers. */
  start?: string;
}

const DEFAULT_SPECIALS = [PAD, UNK, CLS, SEP, MASK, DEC, ENC];

function isWhitespace(c: string): boolean {
  return c === ' ' || c === '\t' || c === '\n' || c === '\r' || /^\p{Zs}$/u.test(c);
}

function isControl(c: string): boolean {
  if (c === '\t' || c === '\n' || c === '\r') return false;
  return /^[\p{Cc}\p{Cf}]$/u.test(c);
}

/** BERT counts all non-letter/number ASCII as punctuation (e.g. `$`, `^`, `` ` ``), plus Unicode P*. */
function isPunctuation(c: string): boolean {
  const cp = c.codePointAt(0)!;
  if ((cp >= 33 && cp <= 47) || (cp >= 58 && cp <= 64) || (cp >= 91 && cp <= 96) || (cp >= 123 && cp <= 126)) return true;
  return /^\p{P}$/u.test(c);
}

function isCjk(cp: number): boolean {
  return (
    (cp >= 0x4e00 && cp <= 0x9fff) ||
    (cp >= 0x3400 && cp <= 0x4dbf) ||
    (cp >= 0x20000 && cp <= 0x2a6df) ||
    (cp >= 0x2a700 && cp <= 0x2b73f) ||
    (cp >= 0x2b740 && cp <= 0x2b81f) ||
    (cp >= 0x2b820 && cp <= 0x2ceaf) ||
    (cp >= 0xf900 && cp <= 0xfaff) ||
    (cp >= 0x2f800 && cp <= 0x2fa1f)
  );
}

export class WordPieceTokenizer {
  private readonly ids: Map<string, number>;
  readonly lowercase: boolean;
  readonly stripAccents: boolean;
  readonly prefix: string;
  readonly maxChars: number;
  readonly specials: readonly string[];

  /** `vocab[i]` is the token with id i. */
  constructor(
    readonly vocab: readonly string[],
    opts: WordPieceOptions = {},
  ) {
    this.ids = new Map();
    vocab.forEach((t, i) => {
      if (!this.ids.has(t)) this.ids.set(t, i);
    });
    this.lowercase = opts.lowercase ?? true;
    this.stripAccents = opts.stripAccents ?? this.lowercase;
    this.prefix = opts.continuingPrefix ?? '##';
    this.maxChars = opts.maxInputCharsPerWord ?? 100;
    this.specials = (opts.specialTokens ?? DEFAULT_SPECIALS).filter((t) => this.ids.has(t));
    for (const t of [PAD, UNK, CLS, SEP]) {
      if (!this.ids.has(t)) throw new TokenizerError(`vocabulary lacks the special token ${t}`);
    }
  }

  get size(): number {
    return this.vocab.length;
  }

  id(token: string): number {
    const i = this.ids.get(token);
    if (i === undefined) throw new TokenizerError(`token ${token} is not in the vocabulary`);
    return i;
  }

  has(token: string): boolean {
    return this.ids.has(token);
  }

  get padId(): number {
    return this.id(PAD);
  }
  get unkId(): number {
    return this.id(UNK);
  }
  get clsId(): number {
    return this.id(CLS);
  }
  get sepId(): number {
    return this.id(SEP);
  }
  get decId(): number {
    return this.id(DEC);
  }
  get encId(): number {
    return this.id(ENC);
  }

  /** BERT's BasicTokenizer: text → words (punctuation split off), normalized. */
  basicTokenize(text: string): string[] {
    let cleaned = '';
    for (const c of text) {
      const cp = c.codePointAt(0)!;
      if (cp === 0 || cp === 0xfffd || isControl(c)) continue;
      if (isWhitespace(c)) cleaned += ' ';
      else if (isCjk(cp)) cleaned += ` ${c} `;
      else cleaned += c;
    }
    const out: string[] = [];
    for (const raw of cleaned.split(' ')) {
      if (raw === '') continue;
      if (this.specials.includes(raw)) {
        out.push(raw);
        continue;
      }
      let w = this.lowercase ? raw.toLowerCase() : raw;
      if (this.stripAccents) w = w.normalize('NFD').replace(/\p{Mn}/gu, '');
      let cur = '';
      for (const c of w) {
        if (isPunctuation(c)) {
          if (cur) out.push(cur);
          out.push(c);
          cur = '';
        } else cur += c;
      }
      if (cur) out.push(cur);
    }
    return out;
  }

  /** Greedy longest-match-first WordPiece of one normalized word. */
  wordPiece(word: string): string[] {
    if (this.specials.includes(word)) return [word];
    const chars = Array.from(word);
    if (chars.length > this.maxChars) return [UNK];
    const pieces: string[] = [];
    let start = 0;
    while (start < chars.length) {
      let end = chars.length;
      let found: string | undefined;
      while (start < end) {
        let sub = chars.slice(start, end).join('');
        if (start > 0) sub = this.prefix + sub;
        if (this.ids.has(sub)) {
          found = sub;
          break;
        }
        end--;
      }
      if (found === undefined) return [UNK];
      pieces.push(found);
      start = end;
    }
    return pieces;
  }

  tokenize(text: string): string[] {
    return this.basicTokenize(text).flatMap((w) => this.wordPiece(w));
  }

  /** Token ids of `text`, without special tokens. */
  encode(text: string): number[] {
    return this.tokenize(text).map((t) => this.ids.get(t) ?? this.unkId);
  }

  /** `start … [SEP]` truncated to `maxLen` (the `[SEP]` kept, as HF truncation does), then padded with `[PAD]`. */
  private framed(text: string, maxLen: number, start: number): Int32Array {
    if (!Number.isSafeInteger(maxLen) || maxLen < 2) throw new TokenizerError(`maxLen must be an integer >= 2, got ${maxLen}`);
    const body = this.encode(text).slice(0, maxLen - 2);
    const out = new Int32Array(maxLen).fill(this.padId);
    out[0] = start;
    out.set(body, 1);
    out[body.length + 1] = this.sepId;
    return out;
  }

  /** `[CLS] question [SEP]`, truncated/padded to `maxLen` (the study: 35). */
  encodeQuestion(text: string, maxLen = 35, opts: EncodeOptions = {}): Int32Array {
    return this.framed(text, maxLen, this.id(opts.start ?? CLS));
  }

  /** `[DEC] answer [SEP]`, truncated/padded to `maxLen` (the study: 10). */
  encodeAnswer(text: string, maxLen = 10, opts: EncodeOptions = {}): Int32Array {
    return this.framed(text, maxLen, this.id(opts.start ?? DEC));
  }

  /**
   * Ids → text. Skips special tokens unless `keepSpecial`; stops at the first `[SEP]` after
   * content when `stopAtSep` (generation output). `##` pieces join the previous piece; no space
   * before punctuation that followed a word (HF's `clean_up_tokenization` for . , ? ! ' ).
   */
  decode(ids: ArrayLike<number>, opts: { keepSpecial?: boolean; stopAtSep?: boolean } = {}): string {
    const toks: string[] = [];
    for (let k = 0; k < ids.length; k++) {
      const id = ids[k]!;
      const t = this.vocab[id] ?? UNK;
      if (opts.stopAtSep && id === this.sepId && toks.length > 0) break;
      if (!opts.keepSpecial && this.specials.includes(t) && t !== UNK) continue;
      toks.push(t);
    }
    let s = '';
    for (const t of toks) {
      if (t.startsWith(this.prefix) && s !== '') s += t.slice(this.prefix.length);
      else s += (s === '' ? '' : ' ') + t;
    }
    return s
      .replace(/ ([.,?!])/g, '$1')
      .replace(/ ' /g, "'")
      .replace(/ n't\b/g, "n't");
  }
}

/** Returns `vocab` with `[DEC]` and `[ENC]` appended when missing (30522 → 30524 for bert-base-uncased). */
export function withStudyTokens(vocab: readonly string[]): string[] {
  const out = [...vocab];
  for (const t of [DEC, ENC]) if (!out.includes(t)) out.push(t);
  return out;
}

/** Parses a `vocab.txt`: one token per line, id = line number; a trailing empty line is ignored. */
export function parseVocabTxt(text: string, path = 'vocab.txt'): string[] {
  const lines = text.split(/\r?\n/);
  if (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  if (lines.length === 0) throw new TokenizerError(`${path}: empty vocabulary`);
  return lines;
}

/** Parses HF `tokenizer.json` (its WordPiece `model` section, the normalizer's flags, and `added_tokens`). */
export function parseTokenizerJson(text: string, path = 'tokenizer.json'): { vocab: string[]; opts: WordPieceOptions } {
  let j: unknown;
  try {
    j = JSON.parse(text);
  } catch (e) {
    throw new TokenizerError(`${path}: invalid JSON: ${(e as Error).message}`);
  }
  const o = j as {
    model?: { type?: string; vocab?: Record<string, number>; continuing_subword_prefix?: string; max_input_chars_per_word?: number };
    normalizer?: { lowercase?: boolean; strip_accents?: boolean | null } | null;
    added_tokens?: { id: number; content: string }[];
  };
  const m = o?.model;
  if (!m || typeof m !== 'object' || typeof m.vocab !== 'object' || m.vocab === null || Array.isArray(m.vocab)) {
    throw new TokenizerError(`${path}: no \`model.vocab\` object (expected a WordPiece tokenizer.json)`);
  }
  if (m.type !== undefined && m.type !== 'WordPiece') throw new TokenizerError(`${path}: model type is ${m.type}, expected WordPiece`);
  const byId: string[] = [];
  const put = (tok: string, id: unknown): void => {
    if (typeof id !== 'number' || !Number.isSafeInteger(id) || id < 0)
      throw new TokenizerError(`${path}: token ${JSON.stringify(tok)} has invalid id ${String(id)}`);
    if (byId[id] !== undefined && byId[id] !== tok)
      throw new TokenizerError(`${path}: id ${id} is used by both ${JSON.stringify(byId[id])} and ${JSON.stringify(tok)}`);
    byId[id] = tok;
  };
  for (const [tok, id] of Object.entries(m.vocab)) put(tok, id);
  for (const a of o.added_tokens ?? []) put(a.content, a.id);
  for (let i = 0; i < byId.length; i++) if (byId[i] === undefined) throw new TokenizerError(`${path}: no token has id ${i}`);
  const n = o.normalizer;
  const opts: WordPieceOptions = {};
  if (m.continuing_subword_prefix !== undefined) opts.continuingPrefix = m.continuing_subword_prefix;
  if (m.max_input_chars_per_word !== undefined) opts.maxInputCharsPerWord = m.max_input_chars_per_word;
  if (n && typeof n === 'object') {
    if (typeof n.lowercase === 'boolean') opts.lowercase = n.lowercase;
    if (typeof n.strip_accents === 'boolean') opts.stripAccents = n.strip_accents;
  }
  return { vocab: byId, opts };
}

/**
 * Loads `vocab.txt` or `tokenizer.json` (by extension or content) and appends the study's
 * `[DEC]`/`[ENC]` (pass `studyTokens: false` to leave the vocabulary as is).
 */
export function loadTokenizer(path: string, opts: WordPieceOptions & { studyTokens?: boolean } = {}): WordPieceTokenizer {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new TokenizerError(`${path}: cannot read vocabulary: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  const isJson = path.endsWith('.json') || text.trimStart().startsWith('{');
  let vocab: string[];
  let fileOpts: WordPieceOptions = {};
  if (isJson) ({ vocab, opts: fileOpts } = parseTokenizerJson(text, path));
  else vocab = parseVocabTxt(text, path);
  if (opts.studyTokens !== false) vocab = withStudyTokens(vocab);
  try {
    return new WordPieceTokenizer(vocab, { ...fileOpts, ...opts });
  } catch (e) {
    throw new TokenizerError(`${path}: ${(e as Error).message}`);
  }
}
