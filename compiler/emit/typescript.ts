/**
 * A typed TypeScript module for one compiled model (`milec compile FILE -o DIR` writes it as
 * `DIR/<Model>.ts`). Generated with ts-morph; pure: returns the source text.
 *
 * Design. The module embeds the compiled symbolic graphs (training and inference, as
 * `compiler/emit/graph-json.ts` text) and imports the milec runtime from the installed
 * package, `milec/runtime` (runtime/index.ts, through package.json `exports`): the project
 * that uses it depends on milec, and the module can live anywhere. It needs neither the
 * `.mile` source nor a recompilation, and stays consistent with its own types. Symbolic
 * sizes (`B`, …) are parameters of `createModel`, which specialises and plans for them on the
 * device. A model without a `loss` (or with nothing to train) gets an inference module: no
 * training graph, `TrainInputs` is `never`, and no `trainStep`/`saveAdapter`.
 *
 * Parameter paths are spelled as users see them everywhere (`blocks.0.attn.query.weight`,
 * core/param-path.ts); the runtime accepts the other spelling on input.
 *
 * What it exports:
 *   - types: `ParamShapes` (param path → fixed-length tuple of its shape), `ParamName`,
 *     `TrainableParamName`, `Sizes`, `TrainInputs`, `InferInputs`, `Outputs`, `Model`;
 *   - constants: `params` (shapes, trainable flags, adding method) and `inputs` (dtypes and
 *     shapes, symbolic sizes as strings), `as const`;
 *   - functions: `createModel(ctx, ...sizes, options?)`, `loadWeights`, `loadSafetensors`
 *     (with the `--weights-map` name mappings), `trainStep`, `infer`, `saveAdapter` (also
 *     available as methods of the model).
 */
import type { CodeBlockWriter, SourceFile } from 'ts-morph';
import { newProject, tsMorph } from './ts-morph.ts';
import { symbolsOf } from '../../core/dim.ts';
import type { Shape } from '../../core/dim.ts';
import type { Graph, NodeId } from '../ir/graph.ts';
import { SEED_INPUT } from '../ir/graph.ts';
import { eliminateDead } from '../ir/simplify.ts';
import { graphToJson } from './graph-json.ts';
import { displayPath } from '../../core/param-path.ts';

export interface TypeScriptModuleInput {
  readonly model: string;
  readonly tune: string | null;
  /** The `.mile` file, for the header comment. */
  readonly source: string;
  /** The training graph (forward + backward), when the model can train. */
  readonly train?: Graph;
  /** The inference forward graph (compiled with training = false). */
  readonly forward: Graph;
  /** Where the runtime is imported from (default `milec/runtime`, the installed package). */
  readonly runtimeModule?: string;
  /** The command that generated it, for the header comment. */
  readonly command?: string;
}

/** The package export the generated module imports the runtime from (package.json `exports`). */
export const RUNTIME_MODULE = 'milec/runtime';

/** File name of the module for a model. */
export function moduleFileName(model: string): string {
  return `${model}.ts`;
}

/**
 * The inference graph: the forward graph computing only its non-loss outputs (all outputs
 * when `loss` is the only one), with the inputs those need. `labels` drops out of a
 * classifier's inference this way.
 */
export function inferenceGraph(forward: Graph): Graph {
  const names = Object.keys(forward.outputs);
  const keep = names.filter((n) => n !== 'loss');
  const outputs = Object.fromEntries((keep.length ? keep : names).map((n) => [n, forward.outputs[n]!]));
  const seen = new Uint8Array(forward.nodes.length);
  const stack: NodeId[] = Object.values(outputs);
  while (stack.length) {
    const id = stack.pop()!;
    if (seen[id]) continue;
    seen[id] = 1;
    stack.push(...forward.nodes[id]!.src);
  }
  return eliminateDead({ ...forward, outputs, grads: {}, inputs: forward.inputs.filter((i) => seen[i.node]) });
}

const RESERVED = new Set(
  (
    'break case catch class const continue debugger default delete do else enum export extends false finally for function if import in instanceof new null ' +
    'return super switch this throw true try typeof var void while with as implements interface let package private protected public static yield await any ' +
    'boolean number string symbol type from of ctx options model'
  ).split(' '),
);

/** A TypeScript parameter name for a symbolic size. */
function sizeParam(sym: string): string {
  return /^[A-Za-z_$][A-Za-z0-9_$]*$/.test(sym) && !RESERVED.has(sym) ? sym : `size_${sym.replace(/[^A-Za-z0-9_$]/g, '_')}`;
}

function quote(s: string): string {
  return `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

/** A property name: bare when it is an identifier, quoted otherwise. */
function prop(s: string): string {
  return /^[A-Za-z_$][A-Za-z0-9_$]*$/.test(s) ? s : quote(s);
}

const shapeText = (s: Shape) => `[${s.join(', ')}]`;
const tupleType = (s: readonly number[]) => `readonly [${s.join(', ')}]`;
const arrayType = (dtype: string) => (dtype === 'i32' ? 'Int32Array' : 'Float32Array');

function symbolsOfGraphs(gs: readonly Graph[]): string[] {
  const out = new Set<string>();
  for (const g of gs) for (const i of g.inputs) for (const d of i.shape) for (const s of symbolsOf(d)) out.add(s);
  return [...out].sort();
}

function elementsDoc(s: Shape): string {
  const parts = s.map(String);
  return parts.length === 0 ? '1 value' : `${parts.join(' × ')} values, row-major`;
}

/** A parameter as the module shows it: its path in the user-facing spelling. */
interface ShownParam {
  readonly name: string;
  readonly shape: Shape;
  readonly trainable: boolean;
  readonly addedBy?: string;
}

/** What every part of the module is generated from. */
interface ModuleContext {
  readonly input: TypeScriptModuleInput;
  readonly sf: SourceFile;
  /** The training graph, absent for an inference module. */
  readonly train: Graph | undefined;
  readonly infer: Graph;
  /** The graphs the module embeds: training (when there is one), then inference. */
  readonly graphs: readonly Graph[];
  /** The symbolic sizes, sorted: `createModel`'s size parameters. */
  readonly syms: readonly string[];
  readonly params: readonly ShownParam[];
}

/** A `const` statement (exported unless `exported: false`). */
function addConst(
  c: ModuleContext,
  name: string,
  initializer: string | ((w: CodeBlockWriter) => void),
  o: { docs?: string[]; type?: string; exported?: boolean } = {},
): void {
  c.sf.addVariableStatement({
    isExported: o.exported ?? true,
    declarationKind: tsMorph().VariableDeclarationKind.Const,
    ...(o.docs ? { docs: o.docs } : {}),
    declarations: [{ name, initializer, ...(o.type ? { type: o.type } : {}) }],
  });
}

/** An object literal written one property per line, then `suffix` (`as const`, …). */
function objectLiteral(lines: readonly string[], suffix = ''): (w: CodeBlockWriter) => void {
  return (w) => {
    w.write('{').newLine();
    w.indent(() => {
      for (const l of lines) w.writeLine(l);
    });
    w.write(`}${suffix}`);
  };
}

function emitHeader(c: ModuleContext): void {
  const { input, train, syms } = c;
  const what = `${input.model}${input.tune ? `, tune ${input.tune}` : ' (full fine-tuning)'}${train ? '' : ', inference only'}`;
  const example = [
    '```ts',
    "import { openDevice } from 'milec/runtime';",
    `const ctx = await openDevice();`,
    `const model = await createModel(ctx, ${syms.map((s) => (s === 'B' ? '8' : '/* ' + s + ' */ 1')).join(', ')});`,
    "await model.loadSafetensors('weights.safetensors'); // or { mapping: 'hf-bert', at: 'bert' }",
    ...(train ? ['const loss = await model.trainStep({ ... });'] : []),
    'const out = await model.infer({ ... });',
    'model.destroy();',
    'ctx.close();',
    '```',
  ];
  c.sf.addStatements((w: CodeBlockWriter) => {
    w.writeLine('/**');
    w.writeLine(` * ${what}: a typed module generated by milec from ${input.source}. Do not edit;`);
    w.writeLine(
      ` * regenerate with \`${input.command ?? `milec compile ${input.source}${input.tune ? ` --tune ${input.tune}` : ''} -o DIR`}\`.`,
    );
    w.writeLine(' *');
    w.writeLine(` * The compiled graphs are embedded below; the runtime comes from \`${c.input.runtimeModule ?? RUNTIME_MODULE}\`, so the`);
    w.writeLine(' * project that uses this file depends on milec (`npm install /path/to/milec`).');
    w.writeLine(' *');
    for (const l of example) w.writeLine(` * ${l}`);
    w.writeLine(' */');
  });
}

function emitImports(c: ModuleContext): void {
  const type = (name: string) => ({ name, isTypeOnly: true });
  c.sf.addImportDeclaration({
    moduleSpecifier: c.input.runtimeModule ?? RUNTIME_MODULE,
    namedImports: [
      'CompiledModel',
      'graphFromJson',
      type('CompiledModelOptions'),
      type('GpuContext'),
      type('LoadOptions'),
      type('ModelSpec'),
      type('ParamSpec'),
      type('SafetensorsLoadOptions'),
    ],
  });
  addConst(c, 'modelName', quote(c.input.model));
  addConst(c, 'tuneName', c.input.tune === null ? 'null' : quote(c.input.tune));
}

function emitParams(c: ModuleContext): void {
  const { sf, params } = c;
  sf.addInterface({
    name: 'ParamShapes',
    isExported: true,
    docs: ['The shape of every parameter, by path, as a fixed-length tuple (all parameters are f32).'],
    properties: params.map((p) => ({
      name: prop(p.name),
      isReadonly: true,
      type: tupleType(p.shape.map(Number)),
      docs: [`f32${shapeText(p.shape)}, ${p.trainable ? 'trainable' : 'frozen'}${p.addedBy ? `, added by ${p.addedBy}` : ''}`],
    })),
  });
  sf.addTypeAlias({
    name: 'ParamName',
    isExported: true,
    type: 'keyof ParamShapes',
    docs: ['A parameter path (`blocks.0.attn.query.weight`).'],
  });
  const trainable = params.filter((p) => p.trainable).map((p) => quote(p.name));
  sf.addTypeAlias({
    name: 'TrainableParamName',
    isExported: true,
    type: c.train && trainable.length ? trainable.join(' | ') : 'never',
    docs: ['The parameters a training step updates.'],
  });
  const lines = params.map(
    (p) =>
      `${prop(p.name)}: { shape: ${shapeText(p.shape)}, trainable: ${p.trainable}${p.addedBy ? `, addedBy: ${quote(p.addedBy)}` : ''} },`,
  );
  addConst(c, 'params', objectLiteral(lines, ' as const satisfies Record<ParamName, ParamSpec>'), {
    docs: ['Every parameter: shape, whether it trains, and the PEFT method that added it.'],
  });
}

function emitInputsAndOutputs(c: ModuleContext): void {
  const { sf, train, infer, graphs, syms } = c;
  sf.addInterface({
    name: 'Sizes',
    isExported: true,
    docs: ['The symbolic sizes, bound when the model is created.'],
    properties: syms.map((s) => ({ name: s, isReadonly: true, type: 'number' })),
  });
  const inputDecls = new Map<string, { dtype: string; shape: Shape }>();
  for (const g of graphs) for (const i of g.inputs) if (i.name !== SEED_INPUT) inputDecls.set(i.name, { dtype: i.dtype, shape: i.shape });
  const lines = [...inputDecls].map(
    ([name, i]) =>
      `${prop(name)}: { dtype: ${quote(i.dtype)}, shape: [${i.shape.map((d) => (typeof d === 'number' ? String(d) : quote(d))).join(', ')}] },`,
  );
  addConst(c, 'inputs', objectLiteral(lines, ' as const'), {
    docs: ['The model inputs: dtype and shape (symbolic sizes as their names).'],
  });
  const inputsInterface = (name: string, doc: string, g: Graph) =>
    sf.addInterface({
      name,
      isExported: true,
      docs: [doc],
      properties: g.inputs
        .filter((i) => i.name !== SEED_INPUT)
        .map((i) => ({
          name: prop(i.name),
          isReadonly: true,
          type: arrayType(i.dtype),
          docs: [`${i.dtype}${shapeText(i.shape)}: ${elementsDoc(i.shape)}.`],
        })),
    });
  if (train) inputsInterface('TrainInputs', 'The inputs of one training step.', train);
  else
    sf.addTypeAlias({
      name: 'TrainInputs',
      isExported: true,
      type: 'never',
      docs: ['This model was compiled without a training graph (it has no `loss`, or nothing to train).'],
    });
  inputsInterface('InferInputs', 'The inputs of one inference.', infer);
  sf.addInterface({
    name: 'Outputs',
    isExported: true,
    docs: ['What `infer` returns (row-major, f32).'],
    properties: Object.entries(infer.outputs).map(([name, id]) => {
      const n = infer.nodes[id]!;
      return {
        name: prop(name),
        isReadonly: true,
        type: 'Float32Array',
        docs: [`${n.dtype}${shapeText(n.shape)}: ${elementsDoc(n.shape)}.`],
      };
    }),
  });
  sf.addTypeAlias({
    name: 'Model',
    isExported: true,
    type: 'CompiledModel<ParamName, TrainInputs, InferInputs, Outputs>',
    docs: ['The model on a device.'],
  });
}

function emitGraphsAndSpec(c: ModuleContext): void {
  const { train, infer } = c;
  if (train)
    addConst(c, 'TRAIN_GRAPH', quote(graphToJson(train)), {
      exported: false,
      docs: [`The training graph (forward with dropout, backward): ${train.nodes.length} nodes.`],
    });
  addConst(c, 'INFER_GRAPH', quote(graphToJson(infer)), {
    exported: false,
    docs: [`The inference graph (no dropout, no loss): ${infer.nodes.length} nodes.`],
  });
  const lines = [
    'model: modelName,',
    'tune: tuneName,',
    ...(train ? ['trainGraph: () => graphFromJson(TRAIN_GRAPH),'] : []),
    'inferGraph: () => graphFromJson(INFER_GRAPH),',
    'params,',
  ];
  addConst(c, 'spec', objectLiteral(lines), { exported: false, type: 'ModelSpec' });
}

/** `createModel`, `loadWeights` and `loadSafetensors`. */
function emitCreateAndLoad(c: ModuleContext): void {
  const { sf, train, syms } = c;
  const sizes = syms.map((s) => (sizeParam(s) === s ? s : `${quote(s)}: ${sizeParam(s)}`)).join(', ');
  sf.addFunction({
    name: 'createModel',
    isExported: true,
    parameters: [
      { name: 'ctx', type: 'GpuContext' },
      ...syms.map((s) => ({ name: sizeParam(s), type: 'number' })),
      { name: 'options', type: 'CompiledModelOptions', initializer: '{}' },
    ],
    returnType: 'Promise<Model>',
    docs: [
      [
        `Creates ${c.input.model} on a device (open one with \`openDevice\` from \`milec/runtime\`): specialises the`,
        'graphs for the given sizes, plans the buffers, compiles every pipeline and initialises the',
        `parameters as \`milec train\` does (seeded by \`options.seed\`).${train ? '' : ' Inference only.'}`,
        ...syms.map((s) => `@param ${sizeParam(s)} the size \`${s}\`${s === 'B' ? ' (batch)' : ''}`),
      ].join('\n'),
    ],
    statements: `return CompiledModel.create<ParamName, TrainInputs, InferInputs, Outputs>(ctx, spec, { ${sizes} }, ${train ? 'options' : '{ ...options, train: false }'});`,
  });
  sf.addFunction({
    name: 'loadWeights',
    isExported: true,
    parameters: [
      { name: 'model', type: 'Model' },
      { name: 'weights', type: 'ReadonlyMap<string, Float32Array> | Partial<Record<ParamName, Float32Array>>' },
      { name: 'options', type: 'LoadOptions', initializer: '{}' },
    ],
    returnType: 'ParamName[]',
    docs: [
      'Writes parameter values by path (`blocks[0].…` is accepted for `blocks.0.…`); unknown names are an error unless `strict: false`. Returns the names written.',
    ],
    statements: 'return model.loadWeights(weights, options);',
  });
  sf.addFunction({
    name: 'loadSafetensors',
    isExported: true,
    isAsync: true,
    parameters: [
      { name: 'model', type: 'Model' },
      { name: 'path', type: 'string' },
      { name: 'options', type: 'SafetensorsLoadOptions', initializer: '{}' },
    ],
    returnType: 'Promise<ParamName[]>',
    docs: [
      'Loads weights from a safetensors file: by parameter path (shapes must match), or, with `mapping`\n' +
        "(`'hf-bert'`, `'timm-vit'`, `'hf-vit'`, `'blip'`, as `--weights-map`) and `at` (the module the file\n" +
        'describes, as `--weights FILE@AT`), from a checkpoint of another framework. Returns the names written.',
    ],
    statements: 'return model.loadSafetensors(path, options);',
  });
}

/** `trainStep` and `saveAdapter` (a training module only), and `infer`. */
function emitRunFunctions(c: ModuleContext): void {
  const { sf, train, infer } = c;
  const model = { name: 'model', type: 'Model' };
  if (train) {
    sf.addFunction({
      name: 'trainStep',
      isExported: true,
      isAsync: true,
      parameters: [model, { name: 'batch', type: 'TrainInputs' }, { name: 'options', type: '{ lr?: number }', initializer: '{}' }],
      returnType: 'Promise<number>',
      docs: ['One AdamW step (forward, backward, update in one submission); returns the loss before the update.'],
      statements: 'return model.trainStep(batch, options);',
    });
    sf.addFunction({
      name: 'saveAdapter',
      isExported: true,
      isAsync: true,
      parameters: [model, { name: 'path', type: 'string' }],
      returnType: 'Promise<void>',
      docs: ['Writes the trainable parameters to a safetensors file, atomically.'],
      statements: 'return model.saveAdapter(path);',
    });
  }
  sf.addFunction({
    name: 'infer',
    isExported: true,
    isAsync: true,
    parameters: [model, { name: 'batch', type: 'InferInputs' }],
    returnType: 'Promise<Outputs>',
    docs: [
      `Runs inference; returns ${Object.keys(infer.outputs)
        .map((o) => `\`${o}\``)
        .join(', ')}.`,
    ],
    statements: 'return model.infer(batch);',
  });
}

export function emitTypeScriptModule(input: TypeScriptModuleInput): string {
  const infer = inferenceGraph(input.forward);
  const train = input.train;
  const graphs = train ? [train, infer] : [infer];
  const params = (train ?? input.forward).params.map((p) => ({
    name: displayPath(p.name),
    shape: p.shape,
    trainable: p.trainable,
    ...(p.addedBy ? { addedBy: p.addedBy } : {}),
  }));
  const sf = newProject().createSourceFile(`/${moduleFileName(input.model)}`, '');
  const c: ModuleContext = { input, sf, train, infer, graphs, syms: symbolsOfGraphs(graphs), params };
  emitHeader(c);
  emitImports(c);
  emitParams(c);
  emitInputsAndOutputs(c);
  emitGraphsAndSpec(c);
  emitCreateAndLoad(c);
  emitRunFunctions(c);
  sf.formatText({ indentSize: 2, tabSize: 2, convertTabsToSpaces: true });
  const text = sf.getFullText();
  return text.endsWith('\n') ? text : `${text}\n`;
}
