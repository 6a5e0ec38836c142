/**
 * The sweep's baseline row, the question prior: every eval question answered with the most
 * frequent training answer of its question type, with no image and no model. A tune that does
 * not beat it has learned nothing beyond answer frequencies.
 *
 * A question's type is its answer type (OPEN / CLOSED) and its first word ("is", "what",
 * "how", …): the coarse question type every VQA set has. An eval question whose type never
 * occurs in training falls back to the most frequent answer of its answer type, then to the
 * most frequent answer overall. Answers are counted after `normalizeAnswer`; ties go to the
 * alphabetically first. The training answers are the training split's: all of it for the
 * dataset files (VQA-RAD, SLAKE, instruction), and for the unbounded synthetic set the
 * `steps × batch` examples each tune trained on.
 */
import type { Dataset } from '../data/index.ts';
import type { VqaDataset } from '../data/vqa.ts';
import { syntheticVqaExample } from '../data/synthetic-vqa.ts';
import { normalizeAnswer, type ScoredPrediction, type VqaAccuracy, vqaAccuracy } from '../metrics.ts';

/** What the prior reads of a question, in training and in evaluation. */
export interface PriorQuestion {
  readonly question: string;
  readonly answerType: string;
  readonly answer: string;
}

/** The most frequent training answer per question type, per answer type, and overall. */
export interface QuestionPrior {
  readonly byQuestionType: ReadonlyMap<string, string>;
  readonly byAnswerType: ReadonlyMap<string, string>;
  readonly global: string;
  /** Training answers counted. */
  readonly trainItems: number;
}

/** The rule, as the reports state it. */
export const PRIOR_RULE =
  'the question prior, each eval question answered with the most frequent training answer of its type (answer type and first word; else answer type)';

const answerTypeOf = (q: Pick<PriorQuestion, 'answerType'>) => q.answerType.toUpperCase();

/** `OPEN what`, `CLOSED is`: the answer type and the question's first word, lower-cased. */
export function questionType(q: Pick<PriorQuestion, 'question' | 'answerType'>): string {
  const first = q.question.toLowerCase().match(/[\p{L}\p{N}]+/u)?.[0] ?? '';
  return `${answerTypeOf(q)} ${first}`;
}

/** The most frequent key of `counts`; ties to the alphabetically first. */
function mostFrequent(counts: ReadonlyMap<string, number>): string {
  let best = '';
  let n = -1;
  for (const [k, c] of counts) if (c > n || (c === n && k < best)) [best, n] = [k, c];
  return best;
}

/** The prior of `train`; undefined when it has no answers. */
export function fitQuestionPrior(train: Iterable<PriorQuestion>): QuestionPrior | undefined {
  const byQ = new Map<string, Map<string, number>>();
  const byA = new Map<string, Map<string, number>>();
  const all = new Map<string, number>();
  let trainItems = 0;
  const add = (m: Map<string, Map<string, number>>, key: string, answer: string) => {
    const c = m.get(key) ?? new Map<string, number>();
    c.set(answer, (c.get(answer) ?? 0) + 1);
    m.set(key, c);
  };
  for (const q of train) {
    const answer = normalizeAnswer(q.answer);
    trainItems++;
    add(byQ, questionType(q), answer);
    add(byA, answerTypeOf(q), answer);
    all.set(answer, (all.get(answer) ?? 0) + 1);
  }
  if (trainItems === 0) return undefined;
  const best = (m: Map<string, Map<string, number>>) => new Map([...m].map(([k, c]) => [k, mostFrequent(c)]));
  return { byQuestionType: best(byQ), byAnswerType: best(byA), global: mostFrequent(all), trainItems };
}

/** The prior's answer to `q`. */
export function priorAnswer(prior: QuestionPrior, q: Pick<PriorQuestion, 'question' | 'answerType'>): string {
  return prior.byQuestionType.get(questionType(q)) ?? prior.byAnswerType.get(answerTypeOf(q)) ?? prior.global;
}

/** Open, closed and global accuracy of the prior on `items`, scored like the tunes' answers. */
export function priorAccuracy(prior: QuestionPrior, items: readonly PriorQuestion[]): VqaAccuracy {
  const preds: ScoredPrediction[] = items.map((it) => ({
    answerType: it.answerType,
    answer: it.answer,
    prediction: priorAnswer(prior, it),
  }));
  return vqaAccuracy(preds);
}

/**
 * The training questions of `data`: a dataset file's training split, or the first
 * `steps × batch` examples of the synthetic VQA set (what every tune of the sweep trained on).
 * Undefined for data without questions and answers (the synthetic keyword task).
 */
export function trainingQuestions(data: Dataset, o: { seed: number; steps: number; batch: number }): PriorQuestion[] | undefined {
  const files = data as Partial<VqaDataset>;
  if (typeof files.items === 'function') return [...files.items('train')];
  if (data.name === 'synthetic-vqa') return Array.from({ length: o.steps * o.batch }, (_, i) => syntheticVqaExample(o.seed, 'train', i));
  return undefined;
}
