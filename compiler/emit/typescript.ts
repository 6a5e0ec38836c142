/**
 * A typed TypeScript module for one compiled model (`milec compile FILE -o DIR` writes it as
 * `DIR/<Model>.ts`). Generated with ts-morph; pure: returns the source text.
 *
 * Design. The module embeds the compiled symbolic graphs (training and inference, as
 * `compiler/emit/graph-json.ts` text) and imports the milec runtime by a relative path from
 * DIR to the milec checkout (`runtimeBase`). It therefore needs neither the `.mile` source
 * nor a recompilation, and stays consistent with its own types; it must stay at the same
 * place relative to the checkout (regenerate it after moving either). Symbolic sizes (`B`, …)
 * are parameters of `createModel`, which specialises and plans for them on the device.
 *
 * What it exports:
 *   - types: `ParamShapes` (param path → fixed-length tuple of its shape), `ParamName`,
 *     `TrainableParamName`, `Sizes`, `TrainInputs`, `InferInputs`, `Outputs`, `Model`;
 *   - constants: `params` (shapes, trainable flags, adding method) and `inputs` (dtypes and
 *     shapes, symbolic sizes as strings), `as const`;
 *   - functions: `createModel(ctx, ...sizes, options?)`, `loadWeights`, `loadSafetensors`,
 *     `trainStep`, `infer`, `saveAdapter` (also available as methods of the model).
 */
import type { CodeBlockWriter, SourceFile } from 'ts-morph';
import { newProject, tsMorph } from './ts-morph.ts';
import { symbolsOf } from '../../core/dim.ts';
import type { Shape } from '../../core/dim.ts';
import type { Graph, NodeId } from '../ir/graph.ts';
import { SEED_INPUT } from '../ir/graph.ts';
import { eliminateDead } from '../ir/simplify.ts';
import { graphToJson } from './graph-json.ts';

export interface TypeScriptModuleInput {
  readonly model: string;
  readonly tune: string | null;
  /** The `.mile` file, for the header comment. */
  readonly source: string;
  /** The training graph (forward + backward), when the model can train. */
  readonly train?: Graph;
  /** The inference forward graph (compiled with training = false). */
  readonly forward: Graph;
  /** Import path from the module's folder to the milec checkout root, e.g. `../..`. */
  readonly runtimeBase: string;
  /** The command that generated it, for the header comment. */
  readonly command?: string;
}

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

export function emitTypeScriptModule(input: TypeScriptModuleInput): string {
  const infer = inferenceGraph(input.forward);
  const train = input.train;
  const base = input.runtimeBase.replace(/\\/g, '/').replace(/\/$/, '') || '.';
  const graphs = train ? [train, infer] : [infer];
  const syms = symbolsOfGraphs(graphs);
  const params = (train ?? input.forward).params;

  const project = newProject();
  const sf: SourceFile = project.createSourceFile(`/${moduleFileName(input.model)}`, '');

  const what = `${input.model}${input.tune ? `, tune ${input.tune}` : ' (full fine-tuning)'}`;
  sf.addStatements((w: CodeBlockWriter) => {
    w.writeLine('/**');
    w.writeLine(` * ${what}: a typed module generated by milec from ${input.source}. Do not edit;`);
    w.writeLine(` * regenerate with \`${input.command ?? `milec compile ${input.source}${input.tune ? ` --tune ${input.tune}` : ''} -o DIR`}\`.`);
    w.writeLine(' *');
    w.writeLine(' * The compiled graphs are embedded below; the milec runtime is imported by relative path,');
    w.writeLine(` * so keep this file where it is relative to the milec checkout (\`${base}\`).`);
    w.writeLine(' *');
    w.writeLine(' * ```ts');
    w.writeLine(` * const model = await createModel(ctx, ${syms.map((s) => (s === 'B' ? '8' : '/* ' + s + ' */ 1')).join(', ')});`);
    w.writeLine(' * await model.loadSafetensors(\'weights.safetensors\');');
    if (train) w.writeLine(' * const loss = await model.trainStep({ ... });');
    w.writeLine(' * const out = await model.infer({ ... });');
    w.writeLine(' * model.destroy();');
    w.writeLine(' * ```');
    w.writeLine(' */');
  });

  sf.addImportDeclarations([
    { moduleSpecifier: `${base}/compiler/emit/graph-json.ts`, namedImports: ['graphFromJson'] },
    {
      moduleSpecifier: `${base}/runtime/compiled-model.ts`,
      namedImports: ['CompiledModel', { name: 'CompiledModelOptions', isTypeOnly: true }, { name: 'LoadOptions', isTypeOnly: true }, { name: 'ModelSpec', isTypeOnly: true }, { name: 'ParamSpec', isTypeOnly: true }],
    },
    { moduleSpecifier: `${base}/runtime/device.ts`, namedImports: ['GpuContext'], isTypeOnly: true },
  ]);

  sf.addVariableStatements([
    { isExported: true, declarationKind: tsMorph().VariableDeclarationKind.Const, declarations: [{ name: 'modelName', initializer: quote(input.model) }] },
    { isExported: true, declarationKind: tsMorph().VariableDeclarationKind.Const, declarations: [{ name: 'tuneName', initializer: input.tune === null ? 'null' : quote(input.tune) }] },
  ]);

  // ---- parameters
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
  sf.addTypeAlias({ name: 'ParamName', isExported: true, type: 'keyof ParamShapes', docs: ['A parameter path.'] });
  const trainable = params.filter((p) => p.trainable).map((p) => quote(p.name));
  sf.addTypeAlias({ name: 'TrainableParamName', isExported: true, type: trainable.length ? trainable.join(' | ') : 'never', docs: ['The parameters a training step updates.'] });
  sf.addVariableStatement({
    isExported: true,
    declarationKind: tsMorph().VariableDeclarationKind.Const,
    docs: ['Every parameter: shape, whether it trains, and the PEFT method that added it.'],
    declarations: [
      {
        name: 'params',
        initializer: (w: CodeBlockWriter) => {
          w.write('{').newLine();
          w.indent(() => {
            for (const p of params) {
              const added = p.addedBy ? `, addedBy: ${quote(p.addedBy)}` : '';
              w.writeLine(`${prop(p.name)}: { shape: ${shapeText(p.shape)}, trainable: ${p.trainable}${added} },`);
            }
          });
          w.write('} as const satisfies Record<ParamName, ParamSpec>');
        },
      },
    ],
  });

  // ---- sizes, inputs, outputs
  sf.addInterface({
    name: 'Sizes',
    isExported: true,
    docs: ['The symbolic sizes, bound when the model is created.'],
    properties: syms.map((s) => ({ name: s, isReadonly: true, type: 'number' })),
  });
  const inputDecls = new Map<string, { dtype: string; shape: Shape }>();
  for (const g of graphs) for (const i of g.inputs) if (i.name !== SEED_INPUT) inputDecls.set(i.name, { dtype: i.dtype, shape: i.shape });
  sf.addVariableStatement({
    isExported: true,
    declarationKind: tsMorph().VariableDeclarationKind.Const,
    docs: ['The model inputs: dtype and shape (symbolic sizes as their names).'],
    declarations: [
      {
        name: 'inputs',
        initializer: (w: CodeBlockWriter) => {
          w.write('{').newLine();
          w.indent(() => {
            for (const [name, i] of inputDecls) w.writeLine(`${prop(name)}: { dtype: ${quote(i.dtype)}, shape: [${i.shape.map((d) => (typeof d === 'number' ? String(d) : quote(d))).join(', ')}] },`);
          });
          w.write('} as const');
        },
      },
    ],
  });
  const inputsInterface = (name: string, doc: string, g: Graph) =>
    sf.addInterface({
      name,
      isExported: true,
      docs: [doc],
      properties: g.inputs
        .filter((i) => i.name !== SEED_INPUT)
        
        .map((i) => ({ name: prop(i.name), isReadonly: true, type: arrayType(i.dtype), docs: [`${i.dtype}${shapeText(i.shape)}: ${elementsDoc(i.shape)}.`] })),
    });
  if (train) inputsInterface('TrainInputs', 'The inputs of one training step.', train);
  else sf.addTypeAlias({ name: 'TrainInputs', isExported: true, type: 'never', docs: ['This model was compiled without a training graph.'] });
  inputsInterface('InferInputs', 'The inputs of one inference.', infer);
  sf.addInterface({
    name: 'Outputs',
    isExported: true,
    docs: ['What `infer` returns (row-major, f32).'],
    properties: Object.entries(infer.outputs).map(([name, id]) => {
      const n = infer.nodes[id]!;
      return { name: prop(name), isReadonly: true, type: 'Float32Array', docs: [`${n.dtype}${shapeText(n.shape)}: ${elementsDoc(n.shape)}.`] };
    }),
  });
  sf.addTypeAlias({ name: 'Model', isExported: true, type: 'CompiledModel<ParamName, TrainInputs, InferInputs, Outputs>', docs: ['The model on a device.'] });

  // ---- embedded graphs and the spec
  const graphConst = (name: string, g: Graph, doc: string) =>
    sf.addVariableStatement({ declarationKind: tsMorph().VariableDeclarationKind.Const, docs: [doc], declarations: [{ name, initializer: quote(graphToJson(g)) }] });
  if (train) graphConst('TRAIN_GRAPH', train, `The training graph (forward with dropout, backward): ${train.nodes.length} nodes.`);
  graphConst('INFER_GRAPH', infer, `The inference graph (no dropout, no loss): ${infer.nodes.length} nodes.`);
  sf.addVariableStatement({
    declarationKind: tsMorph().VariableDeclarationKind.Const,
    declarations: [
      {
        name: 'spec',
        type: 'ModelSpec',
        initializer: (w: CodeBlockWriter) => {
          w.write('{').newLine();
          w.indent(() => {
            w.writeLine(`model: modelName,`);
            w.writeLine(`tune: tuneName,`);
            if (train) w.writeLine('trainGraph: () => graphFromJson(TRAIN_GRAPH),');
            w.writeLine('inferGraph: () => graphFromJson(INFER_GRAPH),');
            w.writeLine('params,');
          });
          w.write('}');
        },
      },
    ],
  });

  // ---- functions
  const sizeParams = syms.map((s) => ({ name: sizeParam(s), type: 'number' }));
  sf.addFunction({
    name: 'createModel',
    isExported: true,
    parameters: [{ name: 'ctx', type: 'GpuContext' }, ...sizeParams, { name: 'options', type: 'CompiledModelOptions', initializer: '{}' }],
    returnType: 'Promise<Model>',
    docs: [
      [
        `Creates ${input.model} on a device (open one with \`openDevice\` from runtime/device.ts): specialises the`,
        'graphs for the given sizes, plans the buffers, compiles every pipeline and initialises the',
        `parameters as \`milec train\` does (seeded by \`options.seed\`).${train ? '' : ' Inference only: pass `{ train: false }`.'}`,
        ...syms.map((s) => `@param ${sizeParam(s)} the size \`${s}\`${s === 'B' ? ' (batch)' : ''}`),
      ].join('\n'),
    ],
    statements: `return CompiledModel.create<ParamName, TrainInputs, InferInputs, Outputs>(ctx, spec, { ${syms.map((s) => (sizeParam(s) === s ? s : `${quote(s)}: ${sizeParam(s)}`)).join(', ')} }, options);`,
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
    docs: ['Writes parameter values by path; unknown names are an error unless `strict: false`. Returns the names written.'],
    statements: 'return model.loadWeights(weights, options);',
  });
  sf.addFunction({
    name: 'loadSafetensors',
    isExported: true,
    isAsync: true,
    parameters: [
      { name: 'model', type: 'Model' },
      { name: 'path', type: 'string' },
      { name: 'options', type: 'LoadOptions', initializer: '{}' },
    ],
    returnType: 'Promise<ParamName[]>',
    docs: ['Loads weights from a safetensors file (shapes must match). Returns the names written.'],
    statements: 'return model.loadSafetensors(path, options);',
  });
  if (train) {
    sf.addFunction({
      name: 'trainStep',
      isExported: true,
      isAsync: true,
      parameters: [
        { name: 'model', type: 'Model' },
        { name: 'batch', type: 'TrainInputs' },
        { name: 'options', type: '{ lr?: number }', initializer: '{}' },
      ],
      returnType: 'Promise<number>',
      docs: ['One AdamW step (forward, backward, update in one submission); returns the loss before the update.'],
      statements: 'return model.trainStep(batch, options);',
    });
    sf.addFunction({
      name: 'saveAdapter',
      isExported: true,
      isAsync: true,
      parameters: [
        { name: 'model', type: 'Model' },
        { name: 'path', type: 'string' },
      ],
      returnType: 'Promise<void>',
      docs: ['Writes the trainable parameters to a safetensors file, atomically.'],
      statements: 'return model.saveAdapter(path);',
    });
  }
  sf.addFunction({
    name: 'infer',
    isExported: true,
    isAsync: true,
    parameters: [
      { name: 'model', type: 'Model' },
      { name: 'batch', type: 'InferInputs' },
    ],
    returnType: 'Promise<Outputs>',
    docs: [`Runs inference; returns ${Object.keys(infer.outputs).map((o) => `\`${o}\``).join(', ')}.`],
    statements: 'return model.infer(batch);',
  });

  sf.formatText({ indentSize: 2, tabSize: 2, convertTabsToSpaces: true });
  const text = sf.getFullText();
  return text.endsWith('\n') ? text : `${text}\n`;
}
