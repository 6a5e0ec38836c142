import { describe, expect, it } from 'vitest';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { jsonSyntaxError } from '../../runtime/data/json.ts';
import { instructionQuestion, loadInstruction, loadSlake, loadVqaRad } from '../../runtime/data/vqa-formats.ts';

const fx = fileURLToPath(new URL('../fixtures/vqa/', import.meta.url));
const bad = (n: string): string => join(fx, 'bad', n);
const esc = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const strict = { strict: true } as const;

describe('VQA-RAD loader', () => {
  it('reads items, normalizes answer types, counts missing images', () => {
    const r = loadVqaRad(join(fx, 'vqa-rad'));
    expect(r.total).toBe(5);
    expect(r.items.map((i) => i.id)).toEqual(['1', '2', '3', '5']);
    expect(r.items[0]).toEqual({
      id: '1',
      imagePath: join(fx, 'vqa-rad', 'VQA_RAD Image Folder', 'synpic100.jpg'),
      question: 'Is there a lesion?',
      answer: 'Yes',
      answerType: 'CLOSED',
    });
    expect(r.items[2]!.answer).toBe('2');
    expect(r.problems).toEqual([
      { path: join(fx, 'vqa-rad', 'VQA_RAD Image Folder', 'synpic404.jpg'), reason: 'missing image', itemId: '4' },
    ]);
  });
  it('splits on phrase_type test_*', () => {
    expect(loadVqaRad(join(fx, 'vqa-rad'), { split: 'test' }).items.map((i) => i.id)).toEqual(['3', '5']);
    const train = loadVqaRad(join(fx, 'vqa-rad', 'VQA_RAD Dataset Public.json'), { split: 'train' });
    expect(train.items.map((i) => i.id)).toEqual(['1', '2']);
    expect(train.problems.length).toBe(1);
  });
  it('rejects malformed files, and with strict malformed items, with the path and the reason', () => {
    expect(() => loadVqaRad(bad('bad-json.json'))).toThrow(
      new RegExp(
        `^${esc(bad('bad-json.json'))}: invalid JSON at line 4, column 4 \\(offset \\d+\\): unexpected "\\\\"", expected ',' or '}'$`,
      ),
    );
    expect(() => loadVqaRad(bad('truncated.json'))).toThrow(
      new RegExp(
        `^${esc(bad('truncated.json'))}: invalid JSON at line 1, column 38 \\(offset 37\\): unexpected end of input, expected a value$`,
      ),
    );
    expect(() => loadVqaRad(bad('missing-field.json'), strict)).toThrow(`${bad('missing-field.json')}: item 1: missing field \`question\``);
    expect(() => loadVqaRad(bad('wrong-type.json'), strict)).toThrow(
      `${bad('wrong-type.json')}: item 2: field \`question\` must be a string, got number`,
    );
    expect(() => loadVqaRad(bad('bad-answer-type.json'), strict)).toThrow(
      `${bad('bad-answer-type.json')}: item 0: field \`answer_type\` must be OPEN or CLOSED, got "MAYBE"`,
    );
    expect(() => loadVqaRad(bad('not-a-list.json'))).toThrow(`${bad('not-a-list.json')}: expected a JSON list of items, got object`);
    expect(() => loadVqaRad(bad('nope.json'))).toThrow(`${bad('nope.json')}: cannot read: ENOENT`);
  });
});

describe('SLAKE loader', () => {
  it('keeps English by default and reports missing images', () => {
    const r = loadSlake(join(fx, 'slake'));
    expect(r.total).toBe(3);
    expect(r.items.map((i) => [i.id, i.answer, i.answerType])).toEqual([
      ['1', 'Lung', 'OPEN'],
      ['3', 'Yes', 'CLOSED'],
    ]);
    expect(r.items[0]!.imagePath).toBe(join(fx, 'slake', 'imgs', 'xmlab1', 'source.jpg'));
    expect(r.problems).toEqual([{ path: join(fx, 'slake', 'imgs', 'xmlab9', 'source.jpg'), reason: 'missing image', itemId: '4' }]);
    expect(loadSlake(join(fx, 'slake'), { lang: 'all' }).total).toBe(4);
    expect(loadSlake(join(fx, 'slake'), { split: 'validate' }).items[0]!.answer).toBe('Left Lung');
    expect(loadSlake(join(fx, 'slake'), { split: 'test' }).items.length).toBe(1);
  });
  it('rejects a SLAKE file missing q_lang', () => {
    expect(() => loadSlake(bad('missing-field.json'), strict)).toThrow(`${bad('missing-field.json')}: item 0: missing field \`img_name\``);
  });
});

describe('instruction loader', () => {
  const path = join(fx, 'instruction', 'instruction.json');
  it('reads pools, infers answer types', () => {
    const r = loadInstruction(path);
    expect(r.items.map((i) => [i.id, i.answerType, i.questionPool!.length])).toEqual([
      ['5924', 'CLOSED', 3],
      ['5925', 'OPEN', 2],
      ['5926', 'CLOSED', 1],
    ]);
    expect(r.problems).toEqual([]);
  });
  it('draws one template per item and epoch, deterministically from the seed', () => {
    const it0 = loadInstruction(path).items[0]!;
    const draw = (seed: number): string[] => Array.from({ length: 30 }, (_, e) => instructionQuestion(it0, e, seed));
    expect(draw(42)).toEqual(draw(42));
    expect(new Set(draw(42)).size).toBe(3);
    expect(draw(42)).not.toEqual(draw(43));
  });
  it('rejects an empty pool and bad types', () => {
    expect(() => loadInstruction(bad('instruction-empty-pool.json'), strict)).toThrow(
      `${bad('instruction-empty-pool.json')}: item 0: field \`question_pool\` is empty`,
    );
    expect(() => loadInstruction(bad('wrong-type.json'), strict)).toThrow(/item 0: missing field `img_name`/);
  });
});

describe('jsonSyntaxError', () => {
  it('accepts valid JSON and locates errors', () => {
    expect(jsonSyntaxError('{"a": [1, 2.5e3, "x\\n", true, null]}')).toBeUndefined();
    expect(jsonSyntaxError('[1, 2,]')).toEqual({ offset: 6, reason: 'unexpected "]", expected a value' });
    expect(jsonSyntaxError('{"a": 1} x')).toEqual({ offset: 9, reason: 'unexpected "x" after the JSON value' });
  });
});
