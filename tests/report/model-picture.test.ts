/**
 * The model picture (compiler/picture/): the structure a tune draws and the SVG Graphviz makes
 * of it, read as XML — which modules are there, with which classes and colours, which repeats
 * collapse, and that every count agrees with `milec plan` — not pixels.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { planTraining, type TrainingPlan } from '../../compiler/cost/report.ts';
import { methodColours, pictureDot } from '../../compiler/picture/dot.ts';
import {
  modelPicture,
  type ModelPicture,
  type PictureModule,
  printModelPicture,
  tunePicture,
} from '../../compiler/picture/model-picture.ts';
import { loadProgram } from '../../compiler/sema/load.ts';
import { pictureSvg, tunePictureSvg } from '../../compiler/picture/svg.ts';
import { compileFrontEnd, type FrontEnd } from '../../compiler/pipeline.ts';
import { fileHost } from '../../runtime/source-files.ts';
import { sweepHtml, type SweepReport } from '../../runtime/sweep/report.ts';

const tiny = 'examples/tiny_classifier.mile';
const missTiny = 'examples/miss_tiny.mile';

function frontEnd(file: string, tune: string, o: { training?: boolean; text?: string; config?: Record<string, string> } = {}): FrontEnd {
  const config = o.config ? new Map(Object.entries(o.config)) : undefined;
  const r = compileFrontEnd({ host: fileHost(), file, tune, text: o.text, config, training: o.training ?? false });
  if (!r.result) throw new Error(r.diagnostics.map((d) => d.message).join('\n'));
  return r.result;
}

// ------------------------------------------------------------------ reading the SVG as XML

interface XmlElement {
  readonly name: string;
  readonly attrs: Readonly<Record<string, string>>;
  readonly children: XmlElement[];
  text: string;
}

const decode = (s: string) =>
  s
    .replace(/&#(\d+);/g, (_, n: string) => String.fromCodePoint(Number(n)))
    .replace(/&#x([0-9a-f]+);/gi, (_, n: string) => String.fromCodePoint(parseInt(n, 16)))
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&quot;/g, '"')
    .replace(/&apos;/g, "'")
    .replace(/&amp;/g, '&');

/** A strict reader for the XML Graphviz writes: every character must belong to a tag, text, comment or declaration, and tags must nest. */
function parseXml(xml: string): XmlElement {
  const root: XmlElement = { name: '#document', attrs: {}, children: [], text: '' };
  const stack = [root];
  const token = /<!--[\s\S]*?-->|<\?[\s\S]*?\?>|<!DOCTYPE[^>]*>|<(\/?)([A-Za-z_][\w:.-]*)((?:\s+[\w:.-]+="[^"]*")*)\s*(\/?)>|([^<]+)/gy;
  let at = 0;
  for (let m = token.exec(xml); m; m = token.exec(xml)) {
    at = token.lastIndex;
    if (m[5] !== undefined) stack[stack.length - 1]!.text += decode(m[5]);
    else if (m[2] === undefined) continue;
    else if (m[1]) {
      const open = stack.pop()!;
      if (open.name !== m[2]) throw new Error(`</${m[2]}> closes <${open.name}>`);
    } else {
      const attrs = Object.fromEntries([...m[3]!.matchAll(/([\w:.-]+)="([^"]*)"/g)].map((a) => [a[1]!, decode(a[2]!)]));
      const el: XmlElement = { name: m[2], attrs, children: [], text: '' };
      stack[stack.length - 1]!.children.push(el);
      if (!m[4]) stack.push(el);
    }
  }
  if (at !== xml.length) throw new Error(`not XML at offset ${at}: ${xml.slice(at, at + 40)}`);
  if (stack.length !== 1) throw new Error(`<${stack[stack.length - 1]!.name}> is never closed`);
  return root;
}

function* descendants(e: XmlElement): Generator<XmlElement> {
  for (const c of e.children) {
    yield c;
    yield* descendants(c);
  }
}

/** One node or cluster of the drawing, or the graph: its DOT name (the SVG `<title>`), classes, colours and text. */
interface Drawn {
  readonly title: string;
  readonly kind: 'node' | 'cluster' | 'graph';
  readonly classes: ReadonlySet<string>;
  readonly fill?: string;
  readonly stroke?: string;
  /** Its label's text pieces (Graphviz writes one `<text>` per run of one font), joined by spaces. */
  readonly text: string;
}

function drawn(svg: string): Map<string, Drawn> {
  const doc = parseXml(svg);
  const out = new Map<string, Drawn>();
  for (const g of descendants(doc)) {
    const classes = new Set((g.attrs.class ?? '').split(/\s+/));
    const kind = (['node', 'cluster', 'graph'] as const).find((k) => classes.has(k));
    if (g.name !== 'g' || !kind) continue;
    const title = g.children.find((c) => c.name === 'title')!.text;
    const shape = g.children.find((c) => c.name === 'path' || c.name === 'polygon');
    const text = g.children
      .filter((c) => c.name === 'text')
      .map((c) => c.text.trim())
      .join(' ');
    out.set(title, { title, kind, classes, fill: shape?.attrs.fill, stroke: shape?.attrs.stroke, text });
  }
  return out;
}

/** The drawing of a module: a box named by its path, or a cluster (`cluster_<path>`) whose heading box holds its text. */
function moduleOf(d: Map<string, Drawn>, id: string): { shape: Drawn; text: string } {
  const box = d.get(id);
  if (box) return { shape: box, text: box.text };
  const cluster = d.get(`cluster_${id}`);
  if (!cluster) throw new Error(`no module ${id} in the drawing: ${[...d.keys()].join(', ')}`);
  return { shape: cluster, text: d.get(`${id}#heading`)!.text };
}

const num = (s: string | undefined) => Number((s ?? 'NaN').replace(/,/g, ''));

/**
 * The parameters and trainable parameters a drawn module stands for, read from its text: a
 * cluster's heading counts everything under it (`9,568 params each (1,024 added) · 1,024
 * trainable`); a box shows its own (`1,056`, `64 · 32 trainable: bias`) and each method's
 * additions (`+512: lora_A, lora_B`); a shared group only its additions. Times the copies of a
 * collapsed repeat (`×12`).
 */
function countsOf(x: Drawn): { params: number; trainable: number } {
  const copies = Number(/×(\d+)/.exec(x.text)?.[1] ?? 1);
  const added = [...x.text.matchAll(/\+([\d,]+)/g)].reduce((a, m) => a + num(m[1]), 0);
  const own = num(/(?:^|\s)([\d,]+)/.exec(x.text)?.[1]);
  const stated = /([\d,]+) trainable/.exec(x.text);
  if (x.classes.has('shared')) return { params: added, trainable: added };
  if (x.classes.has('heading')) {
    const trainable = stated ? num(stated[1]) : x.text.includes('all trainable') ? own : 0;
    return { params: copies * own, trainable: copies * trainable };
  }
  const base = x.classes.has('trained') ? own : stated ? num(stated[1]) : 0;
  return { params: copies * (own + added), trainable: copies * (base + added) };
}

/** Every top-level module of the plan is drawn with the plan's numbers, and the title has its totals. */
function expectPlanCounts(svg: string, plan: TrainingPlan): void {
  const d = drawn(svg);
  expect(d.get(plan.tune!)!.text).toContain(
    `${int(plan.trainableParams)} of ${int(plan.totalParams)} parameters trainable (${plan.trainablePercent.toFixed(4)}%)`,
  );
  for (const m of plan.modules) {
    const name = m.name.replace(/[[\].]/g, '\\$&');
    const mine = new RegExp(`^${name}(\\[\\d+(\\.\\.\\d+)?\\])?(#heading)?$`);
    const shown = [...d.values()].filter((x) => x.kind === 'node' && mine.test(x.title));
    expect(shown.length, m.name).toBeGreaterThan(0);
    const sum = shown.map(countsOf).reduce((a, c) => ({ params: a.params + c.params, trainable: a.trainable + c.trainable }));
    expect(sum, m.name).toEqual({ params: m.totalParams, trainable: m.trainableParams });
  }
}

const int = (n: number) => n.toLocaleString('en-US');
const names = (m: PictureModule) => m.children.map((c) => c.name);
const child = (m: PictureModule, name: string) => m.children.find((c) => c.name === name)!;
const at = (p: ModelPicture, path: string) => path.split('/').reduce(child, p.root);

describe('the model picture of the tiny classifier', () => {
  const fe = frontEnd(tiny, 'lora_qv', { training: true });
  const plan = planTraining(fe, { bindings: { B: 1 } });
  const pic = modelPicture(fe.model, fe.tune);

  it('has the plan’s totals, the top-level modules in order, and LoRA at the query and value of every block', () => {
    expect([pic.totalParams, pic.trainableParams, pic.addedParams]).toEqual([plan.totalParams, plan.trainableParams, plan.addedParams]);
    expect(pic.trainablePercent).toBeCloseTo(plan.trainablePercent, 12);
    expect(names(pic.root)).toEqual(['embed', 'pos', 'blocks[0..1]', 'norm', 'head']);
    const blocks = at(pic, 'blocks[0..1]');
    expect([blocks.count, blocks.state, blocks.type]).toEqual([2, 'frozen', 'TransformerBlock']);
    expect(at(pic, 'head').state).toBe('trained');
    expect(at(pic, 'embed').state).toBe('frozen');
    const d = 32; // the config's dim
    for (const site of ['query', 'value']) {
      const m = at(pic, `blocks[0..1]/attn/${site}`);
      expect(m.id).toBe(`blocks[0..1].attn.${site}`);
      expect(m.sites).toEqual([
        {
          method: 'lora',
          options: { r: 8, alpha: 16, dropout: 0, rslora: false },
          added: 8 * (d + d),
          trainable: 8 * (d + d),
          names: ['lora_A', 'lora_B'],
        },
      ]);
    }
    expect(at(pic, 'blocks[0..1]/attn/key').sites).toEqual([]);
    expect(printModelPicture(pic)).toContain(
      '      query Linear: frozen, 1,056 params, +512 added\n        lora r=8 alpha=16: +512 (lora_A, lora_B)',
    );
  });

  it('draws frozen grey, trained solid, LoRA sites in LoRA’s colour, with the plan’s numbers', async () => {
    const svg = await tunePictureSvg(fe);
    const d = drawn(svg);
    const head = moduleOf(d, 'head').shape;
    expect([...head.classes]).toEqual(expect.arrayContaining(['node', 'module', 'trained']));
    expect(head.fill).toBe('#1f5fa8');
    const embed = moduleOf(d, 'embed').shape;
    expect(embed.classes.has('frozen') && !embed.classes.has('peft')).toBe(true);
    expect(embed.fill).toBe('#e4e4e4');
    const lora = methodColours(['lora']).get('lora')!;
    for (const site of ['query', 'value']) {
      const q = moduleOf(d, `blocks[0..1].attn.${site}`);
      expect([...q.shape.classes]).toEqual(expect.arrayContaining(['frozen', 'peft', 'peft-lora']));
      expect(q.shape.stroke).toBe(lora);
      expect(q.text).toContain('lora r=8 alpha=16 +512: lora_A, lora_B');
    }
    expect(moduleOf(d, 'blocks[0..1].attn.key').shape.classes.has('peft')).toBe(false);
    const blocks = moduleOf(d, 'blocks[0..1]');
    expect(blocks.shape.kind).toBe('cluster');
    expect(blocks.shape.classes.has('repeat')).toBe(true);
    expect(blocks.text).toContain('TransformerBlock ×2');
    expect([...d.keys()].filter((t) => /blocks\[\d\]/.test(t))).toEqual([]);
    expect(d.get('legend')!.text).toMatch(/frozen.*trained in full.*partly trained.*lora site/);
    expectPlanCounts(svg, plan);
  });

  it('marks partly trained modules and names what trains in them (BitFit)', async () => {
    const bitfit = frontEnd(tiny, 'bitfit', { training: true });
    const svg = await tunePictureSvg(bitfit);
    const d = drawn(svg);
    const q = moduleOf(d, 'blocks[0..1].attn.query');
    expect(q.shape.classes.has('partial')).toBe(true);
    expect(q.shape.fill).toBe('#ffffff');
    expect(q.text).toContain('1,056 · 32 trainable: bias');
    expectPlanCounts(svg, planTraining(bitfit, { bindings: { B: 1 } }));
  });
});

describe('a method that trains its sites instead of adding parameters (LN-tuning)', () => {
  it('draws its sites trained in full, saying so', async () => {
    const fe = frontEnd(tiny, 'ln_tuning', { training: true });
    const svg = await tunePictureSvg(fe);
    const d = drawn(svg);
    for (const id of ['blocks[0..1].norm1', 'blocks[0..1].norm2', 'norm']) {
      const m = moduleOf(d, id);
      expect([...m.shape.classes]).toEqual(expect.arrayContaining(['trained', 'peft', 'peft-ln_tuning']));
      expect(m.text).toContain('ln_tuning trains its own parameters');
    }
    expect(moduleOf(d, 'blocks[0..1].attn').shape.classes.has('frozen')).toBe(true);
    expectPlanCounts(svg, planTraining(fe, { bindings: { B: 1 } }));
  });
});

describe('repeats collapse only while their copies are alike', () => {
  const text = readFileSync(tiny, 'utf8');
  const fixture = `${text}
tune lora_last for TinyClassifier {
  train head
  lora(r = 4, alpha = 8) on blocks[3].attn.query
}
tune train_second for TinyClassifier {
  train blocks[1]
}
`;
  const config = { depth: '4' };

  it('a tune that touches only the last copy splits the run before it', () => {
    const fe = frontEnd(tiny, 'lora_last', { text: fixture, config });
    const pic = modelPicture(fe.model, fe.tune);
    expect(names(pic.root)).toEqual(['embed', 'pos', 'blocks[0..2]', 'blocks[3]', 'norm', 'head']);
    expect(at(pic, 'blocks[0..2]').count).toBe(3);
    expect(at(pic, 'blocks[0..2]/attn/query').sites).toEqual([]);
    expect(at(pic, 'blocks[3]').count).toBe(1);
    expect(at(pic, 'blocks[3]/attn/query').sites.map((s) => [s.method, s.added])).toEqual([['lora', 4 * (32 + 32)]]);
    expect(at(pic, 'blocks[3]/attn/query').id).toBe('blocks[3].attn.query');
  });

  it('a copy trained in full between frozen ones stands alone, drawn solid', async () => {
    const fe = frontEnd(tiny, 'train_second', { text: fixture, config });
    const pic = modelPicture(fe.model, fe.tune);
    expect(names(pic.root)).toEqual(['embed', 'pos', 'blocks[0]', 'blocks[1]', 'blocks[2..3]', 'norm', 'head']);
    expect(['blocks[0]', 'blocks[1]', 'blocks[2..3]'].map((b) => at(pic, b).state)).toEqual(['frozen', 'trained', 'frozen']);
    const d = drawn(await pictureSvg(pictureDot(pic)));
    expect(moduleOf(d, 'blocks[1]').shape.classes.has('trained')).toBe(true);
    expect(moduleOf(d, 'blocks[1].attn.query').shape.fill).toBe('#1f5fa8');
    expect(moduleOf(d, 'blocks[2..3].attn.query').shape.fill).toBe('#e4e4e4');
    expect(moduleOf(d, 'blocks[2..3]').shape.classes.has('repeat')).toBe(true);
    expect(moduleOf(d, 'blocks[0]').shape.classes.has('repeat')).toBe(false);
  });
});

describe('the model picture of MISS-tiny', () => {
  it('draws the encoders trained in full and LoRA in the decoder, with the plan’s numbers (t_t_lora_r4)', async () => {
    const fe = frontEnd(missTiny, 't_t_lora_r4', { training: true });
    const svg = await tunePictureSvg(fe);
    const d = drawn(svg);
    for (const m of ['visual_encoder', 'text_encoder']) {
      expect(moduleOf(d, m).shape.classes.has('trained')).toBe(true);
      expect(moduleOf(d, m).text).toContain('all trainable');
    }
    expect(moduleOf(d, 'visual_encoder.blocks[0..1].attn.qkv').shape.fill).toBe('#1f5fa8');
    expect(moduleOf(d, 'text_decoder').shape.classes.has('frozen')).toBe(true);
    const layer = 'text_decoder.bert.encoder.layer[0..1]';
    expect(moduleOf(d, layer).shape.classes.has('repeat')).toBe(true);
    for (const attn of ['attention', 'crossattention'])
      for (const site of ['query', 'value']) {
        const s = moduleOf(d, `${layer}.${attn}.self.${site}`);
        expect([...s.shape.classes]).toEqual(expect.arrayContaining(['frozen', 'peft-lora']));
        expect(s.text).toContain('lora r=4 alpha=32 dropout=0.1 +512: lora_A, lora_B');
      }
    expect([...d.values()].filter((x) => x.classes.has('peft-lora') && x.kind === 'node' && !x.classes.has('legend'))).toHaveLength(4);
    expectPlanCounts(svg, planTraining(fe, { bindings: { B: 1 } }));
  });

  it('draws a shared prefix encoder beside the model, and the sites that use it', async () => {
    const fe = frontEnd(missTiny, 'f_prefix_prefix', { training: true });
    const pic = modelPicture(fe.model, fe.tune);
    expect(pic.shared.map((s) => [s.name, s.method, s.sites])).toEqual([
      ['prefix_0', 'prefix', 2],
      ['prefix_1', 'prefix', 2],
    ]);
    const d = drawn(await tunePictureSvg(fe));
    const self = moduleOf(d, 'text_encoder.encoder.layer[0..1].attention.self');
    expect(self.shape.kind).toBe('cluster');
    expect(self.shape.classes.has('peft-prefix')).toBe(true);
    expect(self.text).toContain('uses prefix_0');
    expect(d.get('prefix_0')!.classes.has('shared')).toBe(true);
    expectPlanCounts(await tunePictureSvg(fe), planTraining(fe, { bindings: { B: 1 } }));
  });
});

describe('the study model', () => {
  it('draws MissVQA (ViT-B/16 + BERT encoder/decoder) with its twelve layers collapsed, in under 5 s', async () => {
    const t0 = performance.now();
    const fe = frontEnd('examples/miss_vqa.mile', 'f_lora_lora_r4');
    const svg = await tunePictureSvg(fe);
    const ms = performance.now() - t0;
    expect(ms).toBeLessThan(5000);
    const d = drawn(svg);
    expect(moduleOf(d, 'visual_encoder.blocks[0..11]').text).toContain('Block ×12');
    for (const bert of ['text_encoder', 'text_decoder.bert'])
      expect(moduleOf(d, `${bert}.encoder.layer[0..11]`).text).toContain('BertLayer ×12');
    // 96 LoRA sites: query and value of the self- and cross-attention of 12 layers in 2 BERTs, drawn as 8 boxes.
    expect([...d.values()].filter((x) => x.classes.has('peft-lora') && x.kind === 'node' && !x.classes.has('legend'))).toHaveLength(8);
    expect(d.get('f_lora_lora_r4')!.text).toContain('589,824 of 362,068,796 parameters trainable (0.1629%)');
    expect(Number(/viewBox="[\d.]+ [\d.]+ ([\d.]+)/.exec(svg)![1])).toBeLessThan(2400);
  });
});

describe('tunePicture (the sweep report’s pictures, without lowering)', () => {
  it('draws what the front end’s picture draws, for every tune of a file from one loaded program', () => {
    const { program } = loadProgram(fileHost(), missTiny);
    for (const tune of ['f_f_t', 't_lora_lora_r4', 'f_prefix_prefix', 'ia3_ia3_ia3']) {
      const fe = frontEnd(missTiny, tune);
      expect(printModelPicture(tunePicture(program!, tune).picture!), tune).toBe(printModelPicture(modelPicture(fe.model, fe.tune)));
    }
    expect(tunePicture(program!, 'no_such_tune').picture).toBeUndefined();
  });
});

describe('the sweep report', () => {
  it('embeds each tune’s picture, inline and collapsible, in row order; without pictures nothing changes', async () => {
    const row = (tune: string) => ({
      tune,
      trainableParams: 1,
      totalParams: 2,
      trainablePercent: 50,
      predictedPeakBytes: 0,
      measuredPeakBytes: 0,
      msPerStep: 1,
      steps: 1,
      losses: [1],
    });
    const rep: SweepReport = {
      title: 't',
      source: tiny,
      data: 'synthetic',
      device: 'cpu',
      rows: [row('bitfit'), row('lora_qv'), row('ia3')],
    };
    const svg = (tune: string) => tunePictureSvg(frontEnd(tiny, tune));
    const pictures = new Map([
      ['lora_qv', await svg('lora_qv')],
      ['bitfit', await svg('bitfit')],
    ]);
    const html = sweepHtml(rep, pictures);
    const sections = [...html.matchAll(/<details><summary>(\w+)<\/summary>\n<div style="overflow-x:auto"><svg [^>]*>/g)].map((m) => m[1]);
    expect(sections).toEqual(['bitfit', 'lora_qv']);
    expect(html).not.toContain('<?xml');
    expect(html).toContain('<title>blocks[0..1].attn.query</title>');
    expect(sweepHtml(rep, new Map())).toBe(sweepHtml(rep));
    expect(sweepHtml(rep)).not.toContain('<details>');
  });
});
