/**
 * Name, type, shape and tune errors: each is reported once, at the exact source position,
 * with a message a user can act on (and a did-you-mean where a name is close).
 */
import { describe, expect, it } from 'vitest';
import { renderDiagnostic } from '../../core/render.ts';
import { at, compileText } from './helpers.ts';

const prelude = `use std.nn, std.attention
`;

const model = (body: string, extra = '') => `${prelude}
model M {
  config { vocab = 16, seq = 4, dim = 8, classes = 3 }
  input tokens: i32[B, seq]
  input labels: i32[B]
  embed = Embedding(vocab, dim)
  block = TransformerBlock(dim, 2, 16)
  head  = Linear(dim, classes)
  forward {
${body}
  }
}
${extra}`;

const okBody = `    let x = block(embed(tokens))
    output logits = head(mean(x, dim = 1))
    loss cross_entropy(logits, labels)`;

interface Case {
  name: string;
  src: string;
  tune?: string;
  training?: boolean;
  message: string | RegExp;
  /** Text whose first character the diagnostic must point at (nth occurrence). */
  where: string;
  nth?: number;
  help?: string | RegExp;
}

const cases: Case[] = [
  {
    name: 'unknown name in forward',
    src: model(okBody.replace('embed(tokens)', 'embed(tokns)')),
    message: 'unknown name `tokns`',
    where: 'tokns',
    help: 'did you mean `tokens`?',
  },
  {
    name: 'unknown function',
    src: model(okBody.replace('mean(x', 'maen(x')),
    message: 'unknown function or module `maen`',
    where: 'maen',
    help: 'did you mean `mean`?',
  },
  {
    name: 'unknown module',
    src: model(okBody).replace('Linear(dim, classes)', 'Linaer(dim, classes)'),
    message: 'unknown module `Linaer`',
    where: 'Linaer',
    help: 'did you mean `Linear`?',
  },
  {
    name: 'unknown module argument',
    src: model(okBody).replace('Linear(dim, classes)', 'Linear(dim, classes, biass = false)'),
    message: '`Linear` has no argument `biass`',
    where: 'biass',
    help: 'did you mean `bias`?',
  },
  {
    name: 'missing module argument',
    src: model(okBody).replace('Linear(dim, classes)', 'Linear(dim)'),
    message: '`Linear` needs argument `out` (int)',
    where: 'Linear(dim)',
  },
  {
    name: 'argument of the wrong type',
    src: model(okBody).replace('Linear(dim, classes)', 'Linear(dim, 2.5)'),
    message: 'argument `out` is int, got float 2.5',
    where: '2.5',
  },
  {
    name: 'too many module arguments',
    src: model(okBody).replace('Linear(dim, classes)', 'Linear(dim, classes, true, 0.02, 4)'),
    message: '`Linear` takes 4 argument(s), got more',
    where: '4)',
  },
  {
    name: 'width mismatch at a module call',
    src: model(okBody.replace('head(mean(x, dim = 1))', 'head(mean(x, dim = 2))')),
    message: /expects `x` f32\[\.\.\., in\], got f32\[B, 4\] \(in = 8, but axis 1 is 4\)/,
    where: 'mean(x, dim = 2)',
  },
  {
    name: 'dtype mismatch at a module call',
    src: model(okBody.replace('embed(tokens)', 'embed(embed(tokens))')),
    message: /expects `ids` i32\[\.\.\.\], got f32/,
    where: 'embed(tokens))',
  },
  {
    name: 'matmul inner dimensions',
    src: model(`    let x = embed(tokens) @ embed(tokens)\n    loss mean(x)`),
    message: /matmul inner dimensions differ: \[B, 4, 8\] @ \[B, 4, 8\] \(8 vs 4\)/,
    where: 'embed(tokens) @',
  },
  {
    name: 'broadcast failure',
    src: model(`    let x = embed(tokens) + head.weight\n    loss mean(x)`),
    message: /do not broadcast/,
    where: '+ head',
  },
  {
    name: 'loss is not a scalar',
    src: model(`    loss embed(tokens)`),
    message: 'the loss must be a scalar, got [B, 4, 8]',
    where: 'embed(tokens)',
    help: /mean/,
  },
  {
    name: 'loss set twice',
    src: model(`    loss mean(embed(tokens))\n    loss mean(embed(tokens))`),
    message: '`loss` is set twice',
    where: 'loss mean',
    nth: 1,
  },
  {
    name: 'cross_entropy label dtype',
    src: model(`    loss cross_entropy(head(mean(embed(tokens), dim = 1)), head(mean(embed(tokens), dim = 1)))`),
    message: 'cross_entropy labels must be i32',
    where: 'head(mean(embed(tokens), dim = 1)))',
  },
  {
    name: 'cross_entropy logits dtype',
    src: model(`    loss cross_entropy(tokens, labels)`),
    message: 'cross_entropy logits must be f32',
    where: 'tokens, labels',
  },
  {
    name: 'cross_entropy unknown reduction (close)',
    src: model(okBody.replace('cross_entropy(logits, labels)', 'cross_entropy(logits, labels, reduction = "summ")')),
    message: 'unknown reduction "summ"',
    where: 'reduction =',
    help: 'did you mean `sum`?',
  },
  {
    name: 'cross_entropy unknown reduction',
    src: model(okBody.replace('cross_entropy(logits, labels)', 'cross_entropy(logits, labels, reduction = "average")')),
    message: 'unknown reduction "average"',
    where: 'reduction =',
    help: '`reduction` is one of "mean", "sum", "none"',
  },
  {
    name: 'cross_entropy reduction not a string',
    src: model(okBody.replace('cross_entropy(logits, labels)', 'cross_entropy(logits, labels, 0.1, 0, 7)')),
    message: '`reduction` must be a string, one of "mean", "sum", "none"; got int 7',
    where: '7)',
  },
  {
    name: 'cross_entropy ignore not an int',
    src: model(okBody.replace('cross_entropy(logits, labels)', 'cross_entropy(logits, labels, ignore = 0.5)')),
    message: '`ignore` must be an int label id or none, got float 0.5',
    where: 'ignore =',
  },
  {
    name: 'attention_mask of f32',
    src: model(`    loss mean(attention_mask(embed(tokens)))`),
    message: '`ids` must be i32 token ids, got an f32 tensor',
    where: 'embed(tokens)',
  },
  {
    name: 'attention_mask negative pad',
    src: model(`    loss mean(attention_mask(tokens, pad = -1))`),
    message: '`pad` must be an int token id ≥ 0, got -1',
    where: 'pad =',
  },
  {
    name: 'attention_bias of ids',
    src: model(`    loss mean(attention_bias(tokens))`),
    message: '`mask` must be an f32 key mask (1 = attend, 0 = masked), got an i32 tensor',
    where: 'tokens)',
    help: 'make one from token ids with `attention_mask(ids, pad)`',
  },
  {
    name: 'attention_bias narrower than the mask',
    src: model(`    loss mean(attention_bias(attention_mask(tokens), 3))`),
    message: "`cols` (3) must be at least the mask's width (4)",
    where: '3))',
    help: /size\(k, 2\)/,
  },
  {
    name: 'attention_bias of a rank-3 mask',
    src: model(`    loss mean(attention_bias(embed(tokens)))`),
    message: '`mask` must be [B, S] (one row of keys per batch item), got [B, 4, 8]',
    where: 'embed(tokens)',
  },
  {
    name: 'a mask of the wrong width at a module call',
    src: model(okBody.replace('block(embed(tokens))', 'block.attn(embed(tokens), mask = attention_mask(labels))')),
    message: /expects `mask` f32\[B, S\], got f32\[B\]/,
    where: 'mask = attention_mask(labels)',
  },
  {
    name: 'axis out of range',
    src: model(`    loss mean(softmax(embed(tokens), dim = 3))`),
    message: 'axis 3 is out of range for a tensor of rank 3',
    where: 'dim = 3',
  },
  {
    name: 'unknown builtin argument',
    src: model(`    loss mean(softmax(embed(tokens), axis = -1))`),
    message: '`softmax` has no argument `axis`',
    where: 'axis',
    help: '`softmax` takes x, dim',
  },
  {
    name: 'lowercase symbolic size',
    src: model(okBody).replace('i32[B, seq]', 'i32[B, sqe]'),
    message: /unknown size `sqe`/,
    where: 'sqe',
    help: 'did you mean `seq`?',
  },
  {
    name: 'index out of range',
    src: model(`    loss mean(embed(tokens)[:, 9])`),
    message: 'index 9 out of range for axis 1 of size 4',
    where: '9]',
  },
  {
    name: 'unknown member',
    src: model(`    loss mean(head.wieght)`),
    message: '`head` (Linear) has no parameter or child `wieght`',
    where: 'wieght',
    help: 'did you mean `weight`?',
  },
  {
    name: 'module has no such input',
    src: model(okBody.replace('block(embed(tokens))', 'block(embed(tokens), contxt = tokens)')),
    message: '`block` (TransformerBlock) has no input `contxt`',
    where: 'contxt',
  },
  // tunes
  {
    name: 'unknown tune',
    src: model(okBody, 'tune t for M { train head }'),
    tune: 'tt',
    message: 'no tune named `tt` in test.mile',
    where: 'use',
    help: 'did you mean `t`?',
  },
  {
    name: 'tune for another model',
    src: model(okBody, 'tune t for N { train head }'),
    tune: 't',
    message: 'no model named `N`',
    where: 'N {',
  },
  {
    name: 'selector matching nothing',
    src: model(okBody, 'tune t for M { lora(r = 4) on block.attn.qurey }'),
    tune: 't',
    message: 'selector `block.attn.qurey` matches nothing in the model',
    where: 'block.attn.qurey',
    help: 'did you mean `block.attn.query`?',
  },
  {
    name: 'method at a site of the wrong type',
    src: model(okBody, 'tune t for M { lora(r = 4) on block.attn }'),
    tune: 't',
    message: '`lora` attaches to Linear or Conv2d sites, but `block.attn` is a MultiHeadAttention',
    where: 'block.attn }',
  },
  {
    name: 'one alternative matching nothing',
    src: model(okBody, 'tune t for M { lora(r = 4) on block.attn.{query, valeu} }'),
    tune: 't',
    message: '`valeu` in `block.attn.{query, valeu}` matches nothing in the model',
    where: 'valeu',
    help: 'did you mean `value`?',
  },
  {
    name: 'unknown method',
    src: model(okBody, 'tune t for M { lroa(r = 4) on head }'),
    tune: 't',
    message: 'unknown PEFT method `lroa`',
    where: 'lroa',
    help: 'did you mean `lora`?',
  },
  {
    name: 'unknown method option',
    src: model(okBody, 'tune t for M { lora(rank = 4) on head }'),
    tune: 't',
    message: '`lora` has no option `rank`',
    where: 'rank',
    help: 'options of `lora`: r, alpha, dropout, rslora',
  },
  {
    name: 'method option of the wrong type',
    src: model(okBody, 'tune t for M { lora(r = 4.5) on head }'),
    tune: 't',
    message: 'option `r` is int, got 4.5',
    where: '4.5',
  },
  {
    name: 'method option out of range',
    src: model(okBody, 'tune t for M { lora(r = 4, dropout = 1.5) on head }'),
    tune: 't',
    message: 'option `dropout` of `lora` must be in [0, 1), got 1.5',
    where: '1.5',
  },
  {
    name: 'method applied twice',
    src: model(okBody, 'tune t for M { lora(r = 4) on head, ** }'),
    tune: 't',
    message: /`lora` attaches to Linear or Conv2d sites, but `embed` is a Embedding|applied to `head` twice/,
    where: '**',
  },
  {
    name: 'train selector matching nothing',
    src: model(okBody, 'tune t for M { train heads }'),
    tune: 't',
    message: 'selector `heads` matches nothing in the model',
    where: 'heads',
    help: 'did you mean `head`?',
  },
  {
    name: 'nothing to train',
    src: model(okBody, 'tune t for M { freeze ** }'),
    tune: 't',
    training: true,
    message: 'nothing to train: every parameter is frozen in tune `t`',
    where: 'tune t',
  },
  {
    name: 'duplicate declaration',
    src: model(okBody).replace('head  = Linear(dim, classes)', 'head  = Linear(dim, classes)\n  head = Linear(dim, classes)'),
    message: '`head` is declared twice in `M`',
    where: 'head = Linear',
  },
  {
    name: 'param without initializer',
    src: `${prelude}module P(n: int) {\n  param w: f32[n]\n  forward(x: f32[n]) { x * w }\n}\nmodel M {\n  config { n = 3 }\n  input x: f32[B, n]\n  p = P(n)\n  forward { loss mean(p(x)) }\n}\n`,
    message: 'parameter `w` needs an initializer (e.g. `= zeros` or `= normal(0, 0.02)`)',
    where: 'w: f32',
  },
  {
    name: 'unknown initializer',
    src: `${prelude}module P(n: int) {\n  param w: f32[n] = gaussian(0, 1)\n  forward(x: f32[n]) { x * w }\n}\nmodel M {\n  config { n = 3 }\n  input x: f32[B, n]\n  p = P(n)\n  forward { loss mean(p(x)) }\n}\n`,
    message: 'unknown initializer `gaussian`',
    where: 'gaussian',
  },
  {
    name: 'unknown use',
    src: `use std.nnn\nmodel M { input x: f32[B, 2]\n forward { loss mean(x) } }\n`,
    message: /cannot find `std.nnn`/,
    where: 'std.nnn',
    help: 'did you mean `std.nn`?',
  },
];

describe('front-end diagnostics', () => {
  for (const c of cases) {
    it(c.name, () => {
      const r = compileText(c.src, { tune: c.tune, training: c.training });
      expect(r.fe).toBeUndefined();
      const d = r.diagnostics[0]!;
      expect(d.severity).toBe('error');
      if (typeof c.message === 'string') expect(d.message).toBe(c.message);
      else expect(d.message).toMatch(c.message);
      const want = at(c.src, c.where, c.nth);
      expect({ line: d.span.line, col: d.span.col }).toEqual(want);
      if (c.help !== undefined) {
        if (typeof c.help === 'string') expect(d.help).toBe(c.help);
        else expect(d.help).toMatch(c.help);
      }
    });
  }

  it('renders file:line:col, the source line and a caret', () => {
    const src = model(okBody.replace('embed(tokens)', 'embed(tokns)'));
    const r = compileText(src);
    const text = renderDiagnostic(r.diagnostics[0]!, new Map([['test.mile', src]]));
    const { line, col } = at(src, 'tokns');
    const lines = text.split('\n');
    expect(lines[0]).toBe(`test.mile:${line}:${col}: error: unknown name \`tokns\``);
    expect(lines[1]).toContain('embed(tokns)');
    const caretCol = lines[2]!.indexOf('^');
    expect(lines[1]!.slice(caretCol, caretCol + 5)).toBe('tokns');
    expect(lines[2]!.trim().endsWith('^^^^^')).toBe(true);
    expect(text).toContain('= help: did you mean `tokens`?');
  });

  it('a well-formed model compiles', () => {
    expect(compileText(model(okBody)).fe).toBeDefined();
  });
});
