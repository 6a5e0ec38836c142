/**
 * A built-in general-domain pretraining set, deterministic from a seed (`--data synthetic-scenes`):
 * procedural colour scenes of simple shapes with questions and captions about them, the
 * stand-in for the natural-image pretraining (BLIP's 129M pairs) the study starts from.
 *
 * Each scene is a textured background (a gradient, stripes, a horizon or a faint blob, in dark
 * muted colours no brighter than 0.45) and 0–3 copies of one shape (circle, square or triangle), all of
 * one colour (red, green, blue, yellow or white), all small or all large, all on one side. Scenes
 * with white shapes are grey throughout (a fifth of them): the encoder also sees pictures without colour.
 *
 *   kind      question (one of a few phrasings)   answers                                    type
 *   presence  is there a circle?                  yes / no (no: no shapes, or another shape) CLOSED
 *   left      is the circle on the left?          yes / no                                   CLOSED
 *   shape     which shape is shown?               circle / square / triangle                 OPEN
 *   colour    what colour is the circle?          red / green / blue / yellow / white        OPEN
 *   side      on which side is the circle?        left / right                               OPEN
 *   size      how large is the circle?            small / large                              OPEN
 *   count     how many shapes are there?          zero / one / two / three                   OPEN
 *   caption   what is in this image?              "two red circles", "one white square", "nothing"  OPEN
 *
 * What transfers to the medical set (runtime/data/synthetic-vqa.ts) is the skill, not the
 * content: finding a salient object, telling its side, size and number, and answering yes/no
 * and one-word questions through the decoder. The phrasings share the medical set's grammar
 * ("is there a lesion?" / "is there a circle?") and the vocabulary extends the medical one
 * (`syntheticScenesVocab`: the instruction vocabulary, same ids, then the scene words), as a
 * BERT vocabulary covers both domains; organs, lesions and scans never appear here.
 *
 * Balance and determinism as the medical set: the kind uniformly, the answer uniformly among
 * the kind's, then the scene uniformly among those consistent with it; example i of a split is
 * a pure function of (seed, split, i).
 *
 * Half the answers start at a random later position within the room `alen` leaves (leading
 * [PAD]s, hidden by the decoder's attention mask): HF starts position ids at the number of
 * virtual tokens when prefix tuning or P-tuning v2 prefix the decoder, so a fine-tune with 10
 * of them reads the answer at positions 10…, rows a pretraining on short answers alone never
 * trains (BERT's pretraining on long text trains them all). Pretrain with room to spare
 * (scripts/pretrain.sh: `--config alen=16`; the fine-tunes use 5).
 */
import { pcgHash } from '../../compiler/ops/hash.ts';
import type { Batch, Split } from './synthetic.ts';
import { Rng, syntheticInstructionVocab } from './synthetic-vqa.ts';

export type Shape = 'circle' | 'square' | 'triangle';
export type Colour = 'red' | 'green' | 'blue' | 'yellow' | 'white';
export type SceneQuestionKind = 'presence' | 'left' | 'shape' | 'colour' | 'side' | 'size' | 'count' | 'caption';

export interface SceneObject {
  u: number;
  v: number;
  r: number;
}

export interface SceneParams {
  shape: Shape;
  colour: Colour;
  count: 0 | 1 | 2 | 3;
  side: 'left' | 'right';
  size: 'small' | 'large';
  objects: SceneObject[];
  /** Background: pattern and its two muted colours (RGB in [0, 0.45]). */
  pattern: 'gradient' | 'stripes' | 'horizon' | 'blob';
  backA: [number, number, number];
  backB: [number, number, number];
  /** Stripe period / horizon height / blob place, in units of the image size. */
  backParam: number;
  /** Seed of the pixel noise. */
  noise: number;
}

export interface SceneExample {
  params: SceneParams;
  kind: SceneQuestionKind;
  question: string;
  answer: string;
  answerType: 'OPEN' | 'CLOSED';
}

export const SCENE_KINDS: readonly SceneQuestionKind[] = ['presence', 'left', 'shape', 'colour', 'side', 'size', 'count', 'caption'];
const SHAPES: readonly Shape[] = ['circle', 'square', 'triangle'];
const COLOURS: readonly Colour[] = ['red', 'green', 'blue', 'yellow', 'white'];
const COUNT_WORDS = ['zero', 'one', 'two', 'three'] as const;

const RGB: Record<Colour, [number, number, number]> = {
  red: [0.92, 0.18, 0.14],
  green: [0.2, 0.82, 0.25],
  blue: [0.2, 0.36, 0.96],
  yellow: [0.96, 0.88, 0.18],
  white: [1, 1, 1],
};

/** `{s}` is the scene's shape (or, for a "no" or a zero count, the shape asked about). */
export const SCENE_TEMPLATES: Record<SceneQuestionKind, readonly string[]> = {
  presence: ['is there a {s}?', 'is there a {s} in this image?', 'is any {s} present?'],
  left: ['is the {s} on the left?', 'is the {s} on the left side?'],
  shape: ['which shape is shown?', 'what shape is in this image?'],
  colour: ['what colour is the {s}?', 'which colour is the {s}?'],
  side: ['on which side is the {s}?', 'which side is the {s} on?'],
  size: ['how large is the {s}?', 'what size is the {s}?'],
  count: ['how many shapes are there?', 'how many {s}s are in this image?'],
  caption: ['what is in this image?', 'what is shown?'],
};

/** The answers of each kind; captions are drawn from the scene instead. */
const KIND_ANSWERS: Record<Exclude<SceneQuestionKind, 'caption'>, readonly string[]> = {
  presence: ['yes', 'no'],
  left: ['yes', 'no'],
  shape: SHAPES,
  colour: COLOURS,
  side: ['left', 'right'],
  size: ['small', 'large'],
  count: COUNT_WORDS,
};

export function sceneAnswerType(kind: SceneQuestionKind): 'OPEN' | 'CLOSED' {
  return kind === 'presence' || kind === 'left' ? 'CLOSED' : 'OPEN';
}

/** "nothing", "one red circle", "three white squares". */
export function sceneCaption(p: Pick<SceneParams, 'count' | 'colour' | 'shape'>): string {
  if (p.count === 0) return 'nothing';
  return `${COUNT_WORDS[p.count]} ${p.colour} ${p.shape}${p.count > 1 ? 's' : ''}`;
}

function splitWords(s: string): string[] {
  return s
    .toLowerCase()
    .split(/\s+/)
    .flatMap((w) => w.split(/([?])/))
    .filter(Boolean);
}

/** The words of the scene set that the medical instruction vocabulary lacks, in order of first use. */
export function syntheticScenesWords(): string[] {
  const known = new Set(syntheticInstructionVocab());
  const out: string[] = [];
  const add = (text: string): void => {
    for (const w of splitWords(text)) if (!known.has(w) && !out.includes(w)) out.push(w);
  };
  for (const k of SCENE_KINDS) for (const t of SCENE_TEMPLATES[k]) for (const s of SHAPES) add(t.replaceAll('{s}', s));
  for (const answers of Object.values(KIND_ANSWERS)) answers.forEach(add);
  for (const count of [0, 1, 2, 3] as const)
    for (const colour of COLOURS) for (const shape of SHAPES) add(sceneCaption({ count, colour, shape }));
  return out;
}

/** The scene set's vocabulary: `syntheticInstructionVocab()` (same ids), then `syntheticScenesWords()`. */
export function syntheticScenesVocab(): string[] {
  return [...syntheticInstructionVocab(), ...syntheticScenesWords()];
}

const SPLIT_SALT: Record<Split, number> = { train: 0x5343_4e54, eval: 0x5343_4e45 };

function sceneKey(seed: number, split: Split, index: number): number {
  const s = pcgHash((seed >>> 0) ^ pcgHash((Math.floor(seed / 4294967296) >>> 0) ^ pcgHash(SPLIT_SALT[split])));
  return pcgHash(s ^ pcgHash((index >>> 0) ^ pcgHash(Math.floor(index / 4294967296) >>> 0)));
}

/** A dark, muted background colour: shapes stand out against it in every channel's patch sums. */
function mutedColour(rng: Rng, base: number): [number, number, number] {
  const tint = (): number => Math.min(0.45, Math.max(0, base + rng.range(-0.05, 0.05)));
  return [tint(), tint(), tint()];
}

/** Example `index` of `split`: a pure function of (seed, split, index). */
export function syntheticSceneExample(seed: number, split: Split, index: number): SceneExample {
  const rng = new Rng(sceneKey(seed, split, index));
  const kind = SCENE_KINDS[rng.below(SCENE_KINDS.length)]!;
  let shape = SHAPES[rng.below(3)]!;
  const colour = COLOURS[rng.below(COLOURS.length)]!;
  let count = rng.below(4) as 0 | 1 | 2 | 3;
  let side: 'left' | 'right' = rng.below(2) === 0 ? 'left' : 'right';
  let size: 'small' | 'large' = rng.below(2) === 0 ? 'small' : 'large';
  let asked = shape;
  const withShape = (): 1 | 2 | 3 => (1 + rng.below(3)) as 1 | 2 | 3;
  const pick = <T>(xs: readonly T[]): T => xs[rng.below(xs.length)]!;
  let answer = '';
  if (kind !== 'caption') answer = pick(KIND_ANSWERS[kind]);
  switch (kind) {
    case 'presence':
      if (answer === 'yes') count = withShape();
      else if (rng.below(2) === 0) count = 0;
      else {
        count = withShape();
        asked = pick(SHAPES.filter((s) => s !== shape));
      }
      break;
    case 'left':
      count = withShape();
      side = answer === 'yes' ? 'left' : 'right';
      break;
    case 'shape':
      count = withShape();
      shape = asked = answer as Shape;
      break;
    case 'colour':
      count = withShape();
      break;
    case 'side':
      count = withShape();
      side = answer as 'left' | 'right';
      break;
    case 'size':
      count = withShape();
      size = answer as 'small' | 'large';
      break;
    case 'count':
      count = COUNT_WORDS.indexOf(answer as (typeof COUNT_WORDS)[number]) as 0 | 1 | 2 | 3;
      break;
    case 'caption':
      break;
  }
  const objects: SceneObject[] = [];
  const rows: Record<number, readonly [number, number][]> = {
    1: [[0.3, 0.7]],
    2: [
      [0.2, 0.34],
      [0.62, 0.78],
    ],
    3: [
      [0.15, 0.22],
      [0.46, 0.54],
      [0.78, 0.85],
    ],
  };
  for (const [v0, v1] of rows[count] ?? []) {
    const u = side === 'left' ? rng.range(0.2, 0.34) : rng.range(0.66, 0.8);
    const r = size === 'small' ? rng.range(0.07, 0.09) : rng.range(0.12, 0.14);
    objects.push({ u, v: rng.range(v0, v1), r });
  }
  const pattern = pick(['gradient', 'stripes', 'horizon', 'blob'] as const);
  const level = rng.range(0.08, 0.32);
  const params: SceneParams = {
    shape,
    colour,
    count,
    side,
    size,
    objects,
    pattern,
    backA: mutedColour(rng, level),
    backB: mutedColour(rng, level + rng.range(-0.1, 0.1)),
    backParam: rng.unit(),
    noise: rng.next(),
  };
  const template = pick(SCENE_TEMPLATES[kind]);
  const question = template.replaceAll('{s}', asked);
  if (kind === 'caption') answer = sceneCaption(params);
  else if (kind === 'colour') answer = colour;
  return { params, kind, question, answer, answerType: sceneAnswerType(kind) };
}

function inside(shape: Shape, du: number, dv: number, r: number): boolean {
  switch (shape) {
    case 'circle':
      return du * du + dv * dv <= r * r;
    case 'square':
      return Math.abs(du) <= 0.85 * r && Math.abs(dv) <= 0.85 * r;
    case 'triangle': {
      // Apex up, a little larger than r so that it covers about as many pixels as the circle:
      // the half-width grows from 0 at the top (dv = -1.2 r) to 1.2 r at the base (dv = r).
      if (dv < -1.2 * r || dv > r) return false;
      return Math.abs(du) <= ((dv + 1.2 * r) / (2.2 * r)) * 1.2 * r;
    }
  }
}

/** Renders the scene as RGB planes [3, size, size] in [0, 1]. */
export function renderScene(p: SceneParams, size: number): Float32Array {
  const plane = size * size;
  const out = new Float32Array(3 * plane);
  const fg = RGB[p.colour];
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const u = (x + 0.5) / size;
      const v = (y + 0.5) / size;
      let t: number;
      switch (p.pattern) {
        case 'gradient':
          t = v;
          break;
        case 'stripes':
          t = Math.floor(v / (0.08 + 0.1 * p.backParam)) % 2;
          break;
        case 'horizon':
          t = v > 0.35 + 0.3 * p.backParam ? 1 : 0;
          break;
        case 'blob':
          t = (u - 0.5) ** 2 / 0.12 + (v - 0.3 - 0.4 * p.backParam) ** 2 / 0.05 <= 1 ? 1 : 0;
          break;
      }
      let rgb: readonly number[] = [0, 1, 2].map((c) => p.backA[c]! * (1 - t) + p.backB[c]! * t);
      // White shapes come in grey pictures (a photograph in black and white, or a scan).
      if (p.colour === 'white') rgb = [0, 0, 0].fill(0.299 * rgb[0]! + 0.587 * rgb[1]! + 0.114 * rgb[2]!);
      for (const o of p.objects) if (inside(p.shape, u - o.u, v - o.v, o.r)) rgb = fg;
      const n = pcgHash((p.noise ^ pcgHash(y * size + x)) >>> 0) / 4294967296;
      for (let c = 0; c < 3; c++) out[c * plane + y * size + x] = Math.min(1, Math.max(0, rgb[c]! + (n - 0.5) * 0.06));
    }
  }
  return out;
}

export interface SyntheticScenesOptions {
  seed: number;
  imageSize: number;
  /** 3: RGB; 1: luminance; otherwise the RGB planes repeated. */
  channels: number;
  /** Question and answer lengths; 0 for an image encoder alone (no `question`, `answer` inputs). */
  qlen: number;
  alen: number;
  /** The SCENE_ATTRIBUTES inputs to feed. */
  attributes?: readonly SceneAttribute[];
  encodeQuestion(text: string, maxLen: number): Int32Array;
  encodeAnswer(text: string, maxLen: number): Int32Array;
}

/**
 * The scene's attributes as class labels, for pretraining an image encoder alone (inputs
 * `scene_count`, `scene_colour`, `scene_shape`, `scene_side`, `scene_size`: i32[B]): the count
 * 0–3, and 1 + the index of the colour, shape, side and size, with 0 for a scene without shapes
 * (a loss ignores it: `cross_entropy(…, ignore = 0)`).
 */
export const SCENE_ATTRIBUTES = {
  scene_count: 4,
  scene_colour: 1 + COLOURS.length,
  scene_shape: 1 + SHAPES.length,
  scene_side: 3,
  scene_size: 3,
} as const;

export type SceneAttribute = keyof typeof SCENE_ATTRIBUTES;

export function sceneAttributes(p: SceneParams): Record<SceneAttribute, number> {
  const some = p.count > 0;
  return {
    scene_count: p.count,
    scene_colour: some ? 1 + COLOURS.indexOf(p.colour) : 0,
    scene_shape: some ? 1 + SHAPES.indexOf(p.shape) : 0,
    scene_side: some ? (p.side === 'left' ? 1 : 2) : 0,
    scene_size: some ? (p.size === 'small' ? 1 : 2) : 0,
  };
}

export interface SyntheticScenesBatch extends Batch {
  examples: SceneExample[];
}

/**
 * `tokens` (text, then [PAD]s, id 0) as they are when `hash` is even; when it is odd, moved
 * right by 1 + (hash >> 1) modulo the number of trailing [PAD]s: the same text, starting at a
 * uniformly random later position that still fits. Half the texts stay at position 0, where
 * the fine-tunes without prefixes read them.
 */
export function atRandomOffset(tokens: Int32Array, hash: number): Int32Array {
  let used = tokens.length;
  while (used > 0 && tokens[used - 1] === 0) used--;
  const room = tokens.length - used;
  const offset = (hash & 1) === 0 || room === 0 ? 0 : 1 + ((hash >>> 1) % room);
  if (offset === 0) return tokens;
  const out = new Int32Array(tokens.length);
  out.set(tokens.subarray(0, used), offset);
  return out;
}

/**
 * Batches of the scene set: inputs `image` f32[B, C, S, S], `question` i32[B, qlen], `answer`
 * i32[B, alen] (without `question` and `answer` when `qlen` is 0), and the `attributes` asked for.
 */
export function syntheticScenesBatch(o: SyntheticScenesOptions, step: number, batchSize: number, split: Split): SyntheticScenesBatch {
  if (!Number.isSafeInteger(step) || step < 0 || !Number.isSafeInteger(batchSize) || batchSize < 1) {
    throw new RangeError(`syntheticScenes: step must be >= 0 and batchSize >= 1, got ${step}, ${batchSize}`);
  }
  const S = o.imageSize;
  const plane = S * S;
  const image = new Float32Array(batchSize * o.channels * plane);
  const question = new Int32Array(batchSize * o.qlen);
  const answer = new Int32Array(batchSize * o.alen);
  const labels = Object.fromEntries((o.attributes ?? []).map((a) => [a, new Int32Array(batchSize)]));
  const examples: SceneExample[] = [];
  for (let b = 0; b < batchSize; b++) {
    const ex = syntheticSceneExample(o.seed, split, step * batchSize + b);
    examples.push(ex);
    const rgb = renderScene(ex.params, S);
    const base = b * o.channels * plane;
    if (o.channels === 1) {
      for (let i = 0; i < plane; i++) image[base + i] = 0.299 * rgb[i]! + 0.587 * rgb[plane + i]! + 0.114 * rgb[2 * plane + i]!;
    } else {
      for (let c = 0; c < o.channels; c++) image.set(rgb.subarray((c % 3) * plane, (c % 3) * plane + plane), base + c * plane);
    }
    if (o.qlen) question.set(o.encodeQuestion(ex.question, o.qlen), b * o.qlen);
    if (o.alen)
      answer.set(
        atRandomOffset(o.encodeAnswer(ex.answer, o.alen), pcgHash(sceneKey(o.seed, split, step * batchSize + b) ^ 0xa5)),
        b * o.alen,
      );
    const attrs = sceneAttributes(ex.params);
    for (const a of o.attributes ?? []) labels[a]![b] = attrs[a];
  }
  const inputs: Batch['inputs'] = o.qlen ? { image, question, answer } : { image };
  return { inputs: { ...inputs, ...labels }, size: batchSize, examples };
}
