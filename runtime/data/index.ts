/**
 * Resolves `--data SPEC` to a dataset that feeds a model's inputs. `synthetic`: the built-in
 * keyword task, which reads `vocab`, `seq` and `classes` from the model's config and feeds
 * inputs `tokens: i32[B, seq]` and `labels: i32[B]` (for a model with inputs `image`,
 * `question`, `answer` it means `synthetic-vqa`). VQA specs (`vqa-rad:PATH`, `slake:PATH`,
 * `instruction:PATH`, `synthetic-vqa`, `synthetic-instruction`: the synthetic set with each
 * question in a drawn instruction template, runtime/data/synthetic-vqa.ts; `synthetic-scenes`:
 * the general-domain pretraining set of runtime/data/synthetic-scenes.ts) feed `image: f32[B, C, S, S]`, `question: i32[B, qlen]`,
 * `answer: i32[B, alen]` (runtime/data/vqa.ts, runtime/data/synthetic-vqa.ts); a classifier-head
 * model with input `answer_class: i32[B]` gets the index of each item's answer in the set's
 * answer list instead of (or as well as) `answer`, and needs `answers` = the list's length in
 * its config.
 */
import type { ElaboratedModel, Scalar } from '../../compiler/sema/instance.ts';
import { type Batch, syntheticSequenceTask, type Split } from './synthetic.ts';
import { checkAnswerCount, openVqaDataset, vqaInputShape, VqaFormatError } from './vqa.ts';
import {
  SYNTHETIC_VQA_ANSWERS,
  syntheticInstructionVocab,
  syntheticVqaBatch,
  type SyntheticVqaOptions,
  syntheticVqaVocab,
} from './synthetic-vqa.ts';
import { TokenizerError, WordPieceTokenizer } from '../tokenizer/wordpiece.ts';
import {
  SCENE_ATTRIBUTES,
  type SceneAttribute,
  syntheticScenesBatch,
  type SyntheticScenesOptions,
  syntheticScenesVocab,
} from './synthetic-scenes.ts';

export interface Dataset {
  readonly name: string;
  readonly describe: string;
  /**
   * VQA sets: the answer list, for a classifier head (input `answer_class: i32[B]` is the index
   * of the item's normalised answer in it, -1 when it lacks the answer).
   */
  readonly answers?: readonly string[];
  batch(step: number, batchSize: number, split: Split): Batch;
}

export class DataError extends Error {}

function configInt(model: ElaboratedModel, key: string): number {
  const v: Scalar | undefined = model.config.get(key);
  if (!v || v.kind !== 'int' || typeof v.v !== 'number') {
    throw new DataError(`--data synthetic needs an integer \`${key}\` in the config of \`${model.name}\``);
  }
  return v.v;
}

/** Options of the VQA specs (`vqa-rad:PATH`, `slake:PATH`, `instruction:PATH`, `synthetic-vqa`). */
export interface OpenDatasetOptions {
  /** BERT `vocab.txt` or `tokenizer.json` for the file datasets (`--vocab PATH`). */
  vocabPath?: string;
  /** A malformed item of a file dataset is an error instead of a reported, skipped item (`--strict`). */
  strict?: boolean;
}

function hasInput(model: ElaboratedModel, name: string): boolean {
  return model.inputs.some((x) => x.name === name);
}

export function openDataset(spec: string, model: ElaboratedModel, seed: number, opts: OpenDatasetOptions = {}): Dataset {
  try {
    return openDatasetInner(spec, model, seed, opts);
  } catch (e) {
    if (e instanceof VqaFormatError || e instanceof TokenizerError) throw new DataError(e.message);
    throw e;
  }
}

function openDatasetInner(spec: string, model: ElaboratedModel, seed: number, opts: OpenDatasetOptions): Dataset {
  const [kind] = spec.split(':', 1);
  switch (kind) {
    case 'vqa-rad':
    case 'slake':
    case 'instruction':
      return openVqaDataset(spec, model, seed, { vocabPath: opts.vocabPath, strict: opts.strict });
    case 'synthetic-vqa':
      return syntheticVqa(spec, model, seed);
    case 'synthetic-instruction':
    case 'synthetic-instruction-vqa':
      return syntheticVqa(spec, model, seed, true);
    case 'synthetic-scenes':
      return syntheticScenes(spec, model, seed);
    case 'synthetic': {
      // A VQA model (inputs image/question/answer) gets the synthetic VQA set.
      if (hasInput(model, 'image') && hasInput(model, 'question') && (hasInput(model, 'answer') || hasInput(model, 'answer_class')))
        return syntheticVqa(spec, model, seed);
      const want = { tokens: 'i32', labels: 'i32' };
      for (const [name, dtype] of Object.entries(want)) {
        const i = model.inputs.find((x) => x.name === name);
        if (!i || i.dtype !== dtype)
          throw new DataError(
            `--data synthetic feeds inputs \`tokens\` and \`labels\` (i32); \`${model.name}\` has ${model.inputs.map((x) => `\`${x.name}\``).join(', ')}`,
          );
      }
      return syntheticSequenceTask({
        vocab: configInt(model, 'vocab'),
        seq: configInt(model, 'seq'),
        classes: configInt(model, 'classes'),
        seed,
      });
    }
    default:
      throw new DataError(
        `unknown dataset \`${spec}\`; available: synthetic, synthetic-vqa, synthetic-instruction, synthetic-scenes, vqa-rad:PATH, slake:PATH, instruction:PATH`,
      );
  }
}

/**
 * The tokenizer and batch options of the built-in synthetic set (`instruction`: its template
 * variant, with the template words' vocabulary and only templates whose question fits `qlen`).
 */
export function syntheticVqaSetup(
  shape: Omit<SyntheticVqaOptions, 'seed' | 'encodeQuestion' | 'encodeAnswer'>,
  seed: number,
  instruction = false,
): { tok: WordPieceTokenizer; o: SyntheticVqaOptions } {
  const tok = new WordPieceTokenizer(instruction ? syntheticInstructionVocab() : syntheticVqaVocab());
  const o: SyntheticVqaOptions = {
    seed,
    ...shape,
    encodeQuestion: (t: string, n: number) => tok.encodeQuestion(t, n, { start: '[ENC]' }),
    encodeAnswer: (t: string, n: number) => tok.encodeAnswer(t, n),
  };
  if (instruction) {
    o.instruction = true;
    o.fitsQuestion = (t: string) => tok.tokenize(t).length + 2 <= shape.qlen;
  }
  return { tok, o };
}

/** The built-in synthetic medical VQA set with its own tiny vocabulary (no file needed); `instruction`: its template variant. */
function syntheticVqa(spec: string, model: ElaboratedModel, seed: number, instruction = false): Dataset {
  const shape = vqaInputShape(model, spec);
  const { tok, o } = syntheticVqaSetup(shape, seed, instruction);
  const vocab = model.config.get('vocab');
  if (vocab && vocab.kind === 'int' && typeof vocab.v === 'number' && vocab.v < tok.size) {
    throw new DataError(`--data ${spec}: the synthetic VQA vocabulary has ${tok.size} tokens but \`${model.name}\` has vocab = ${vocab.v}`);
  }
  if (shape.answerClass) checkAnswerCount(model, spec, SYNTHETIC_VQA_ANSWERS);
  return {
    name: instruction ? 'synthetic-instruction' : 'synthetic-vqa',
    describe: `synthetic medical VQA${instruction ? ' (instruction templates)' : ''}: ${shape.imageSize}x${shape.imageSize} scans (brain/lung/liver, 0-2 lesions), closed yes/no and open organ/side/size/count questions; ${tok.size}-token vocabulary${shape.answerClass ? `; ${SYNTHETIC_VQA_ANSWERS.length}-answer list` : ''}`,
    answers: SYNTHETIC_VQA_ANSWERS,
    batch: (step, batchSize, split) => syntheticVqaBatch(o, step, batchSize, split),
  };
}

/** The tokenizer and batch options of the general-domain scene set (vocabulary: `syntheticScenesVocab()`). */
export function syntheticScenesSetup(
  shape: Pick<SyntheticScenesOptions, 'imageSize' | 'channels' | 'qlen' | 'alen'>,
  seed: number,
): { tok: WordPieceTokenizer; o: SyntheticScenesOptions } {
  const tok = new WordPieceTokenizer(syntheticScenesVocab());
  return {
    tok,
    o: {
      seed,
      ...shape,
      encodeQuestion: (t: string, n: number) => tok.encodeQuestion(t, n, { start: '[ENC]' }),
      encodeAnswer: (t: string, n: number) => tok.encodeAnswer(t, n),
    },
  };
}

/**
 * The general-domain pretraining set of shapes (no file needed): for a VQA model (inputs `image`,
 * `question`, `answer`) its questions and captions; for an image encoder alone (input `image`
 * and some of SCENE_ATTRIBUTES' `scene_*` inputs, i32[B]) the scenes' attributes as labels.
 */
function syntheticScenes(spec: string, model: ElaboratedModel, seed: number): Dataset {
  const attributes = (Object.keys(SCENE_ATTRIBUTES) as SceneAttribute[]).filter((a) => hasInput(model, a));
  if (attributes.length > 0 && !hasInput(model, 'question')) return sceneAttributeSet(spec, model, seed, attributes);
  const shape = vqaInputShape(model, spec);
  if (!shape.answer) throw new DataError(`--data ${spec} trains a decoder: \`${model.name}\` needs input \`answer: i32[B, alen]\``);
  const { tok, o } = syntheticScenesSetup(shape, seed);
  const vocab = model.config.get('vocab');
  if (vocab && vocab.kind === 'int' && typeof vocab.v === 'number' && vocab.v < tok.size) {
    throw new DataError(`--data ${spec}: the scene vocabulary has ${tok.size} tokens but \`${model.name}\` has vocab = ${vocab.v}`);
  }
  return {
    name: 'synthetic-scenes',
    describe: `synthetic general-domain scenes: ${shape.imageSize}x${shape.imageSize} colour images of 0-3 circles/squares/triangles on textured backgrounds, questions on presence, shape, colour, side, size and count, and captions; ${tok.size}-token vocabulary`,
    batch: (step, batchSize, split) => syntheticScenesBatch({ ...o, attributes }, step, batchSize, split),
  };
}

/** The scenes as images with attribute labels, for an image encoder's own pretraining. */
function sceneAttributeSet(spec: string, model: ElaboratedModel, seed: number, attributes: SceneAttribute[]): Dataset {
  const img = model.inputs.find((x) => x.name === 'image');
  const size = img?.shape[2];
  const sizeValue = typeof size === 'string' ? model.config.get(size) : undefined;
  const imageSize =
    typeof size === 'number' ? size : sizeValue?.kind === 'int' && typeof sizeValue.v === 'number' ? sizeValue.v : undefined;
  const channels = img?.shape[1];
  if (!img || img.dtype !== 'f32' || img.shape.length !== 4 || imageSize === undefined || typeof channels !== 'number')
    throw new DataError(
      `--data ${spec} feeds \`image: f32[B, C, S, S]\` (C and S concrete) with the scene labels; \`${model.name}\` has none`,
    );
  for (const a of attributes) {
    const i = model.inputs.find((x) => x.name === a)!;
    if (i.dtype !== 'i32' || i.shape.length !== 1) throw new DataError(`--data ${spec}: input \`${a}\` must be i32[B]`);
  }
  const o: SyntheticScenesOptions = {
    seed,
    imageSize,
    channels,
    qlen: 0,
    alen: 0,
    attributes,
    encodeQuestion: () => new Int32Array(0),
    encodeAnswer: () => new Int32Array(0),
  };
  return {
    name: 'synthetic-scenes',
    describe: `synthetic general-domain scenes: ${imageSize}x${imageSize} colour images with their attributes as labels (${attributes.join(', ')})`,
    batch: (step, batchSize, split) => syntheticScenesBatch(o, step, batchSize, split),
  };
}
