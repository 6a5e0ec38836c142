/**
 * Elaboration: instantiates a model's module tree with concrete arguments, evaluating
 * config, parameter shapes, conditions and repeat counts. Program -> ElaboratedModel.
 */
import type { Arg, ArgDecl, ChildDecl, InitCall, ModelDecl, ModuleDecl, ParamDecl, TensorType } from '../../grammar/ast.ts';
import { CompileError, type Diagnostic, error, suggestion } from '../../core/diagnostic.ts';
import type { Span } from '../../core/span.ts';
import { type Dim, isConcrete } from '../../core/dim.ts';
import type { InitSpec } from '../ir/graph.ts';
import { constEval, describeScalar, evalBool, evalDim, evalInt, num, type ScalarEnv } from './consteval.ts';
import type { ElaboratedModel, Instance, ModelInput, ParamSlot, Scalar } from './instance.ts';
import { modelWeights } from './model-weights.ts';
import type { Program } from './program.ts';

const MAX_DEPTH = 64;
/** The most copies one `repeat` makes: a count typed on the way to another (an editor checks every keystroke) must not take the process down. */
const MAX_REPEAT = 4096;

/**
 * Config values given from outside the file (`--config qlen=24`), by name, as typed: each
 * replaces the file's value of that entry before the entries after it are evaluated, so values
 * derived from it follow, as Hugging Face's `from_pretrained(…, **config_overrides)`.
 */
export type ConfigOverrides = ReadonlyMap<string, string>;

export function elaborate(
  prog: Program,
  modelName: string,
  at?: Span,
  overrides?: ConfigOverrides,
): { model?: ElaboratedModel; diagnostics: Diagnostic[] } {
  try {
    return { model: elaborateModel(prog, modelName, at, overrides), diagnostics: [] };
  } catch (e) {
    if (e instanceof CompileError) return { diagnostics: [e.diagnostic] };
    throw e;
  }
}

function elaborateModel(prog: Program, modelName: string, at?: Span, overrides?: ConfigOverrides): ElaboratedModel {
  const decl = prog.models.get(modelName);
  if (!decl) {
    const span = at ?? prog.files[0]!.span;
    throw new CompileError(error('name', `no model named \`${modelName}\``, span, suggestion(modelName, prog.models.keys())));
  }
  const config = new Map<string, Scalar>();
  for (const item of decl.items) {
    if (item.kind !== 'config') continue;
    for (const entry of item.entries) {
      if (config.has(entry.name.name))
        throw new CompileError(error('name', `config entry \`${entry.name.name}\` is set twice`, entry.name.span));
      const value = constEval(entry.value, config);
      const given = overrides?.get(entry.name.name);
      config.set(entry.name.name, given === undefined ? value : overrideValue(entry.name.name, given, value, entry.name.span));
    }
  }
  for (const name of overrides?.keys() ?? []) {
    if (!config.has(name))
      throw new CompileError(
        error(
          'name',
          `--config ${name}: \`${modelName}\` has no config entry \`${name}\``,
          decl.name.span,
          suggestion(name, config.keys()),
        ),
      );
  }
  const inputs: ModelInput[] = [];
  for (const item of decl.items) {
    if (item.kind !== 'input') continue;
    if (inputs.some((i) => i.name === item.name.name))
      throw new CompileError(error('name', `input \`${item.name.name}\` is declared twice`, item.name.span));
    inputs.push({ name: item.name.name, dtype: item.type.dtype, shape: inputShape(item.type, config), span: item.span });
  }
  const root = instantiate(prog, decl, config, '', [], decl.span, 0);
  return { name: modelName, root, inputs, config, weights: modelWeights(decl, root) };
}

/** `--config name=text` as a value of the declared entry's kind (an int stays an int, …). */
function overrideValue(name: string, text: string, declared: Scalar, at: Span): Scalar {
  const bad = (kind: string) => new CompileError(error('type', `--config ${name}=${text}: \`${name}\` is ${kind} here`, at));
  switch (declared.kind) {
    case 'int':
      if (!/^-?\d+$/.test(text.trim())) throw bad('an int');
      return { kind: 'int', v: Number(text) };
    case 'float': {
      const v = Number(text);
      if (text.trim() === '' || !Number.isFinite(v)) throw bad('a float');
      return { kind: 'float', v };
    }
    case 'bool':
      if (text !== 'true' && text !== 'false') throw bad('a bool (true or false)');
      return { kind: 'bool', v: text === 'true' };
    case 'none':
      throw bad('`none`, which cannot be set');
  }
}

/**
 * Input dimensions are config values or symbolic sizes. A symbolic size must be a
 * capitalised name (B, T), so that a typo of a config name is reported, not made symbolic.
 */
function inputShape(t: TensorType, config: ScalarEnv): Dim[] {
  return t.dims.map((d) => {
    if (d.kind === 'ellipsis') throw new CompileError(error('shape', 'model inputs need explicit dimensions, not `...`', d.span));
    if (d.expr.kind === 'name' && !config.has(d.expr.name)) {
      if (/^[A-Z]/.test(d.expr.name)) return d.expr.name;
      throw new CompileError(
        error(
          'name',
          `unknown size \`${d.expr.name}\`: not in config (symbolic sizes are capitalised, e.g. \`B\`)`,
          d.expr.span,
          suggestion(d.expr.name, config.keys()),
        ),
      );
    }
    const v = evalDim(d.expr, config);
    if (isConcrete(v) && v <= 0) throw new CompileError(error('shape', `dimension must be positive, got ${v}`, d.span));
    return v;
  });
}

function joinPath(parent: string, name: string): string {
  return parent ? `${parent}.${name}` : name;
}

function instantiate(
  prog: Program,
  decl: ModuleDecl | ModelDecl,
  env: ScalarEnv,
  path: string,
  segments: string[],
  span: Span,
  depth: number,
): Instance {
  if (depth > MAX_DEPTH)
    throw new CompileError(error('module', `module nesting deeper than ${MAX_DEPTH}: is \`${decl.name.name}\` recursive?`, span));
  const inst: Instance = {
    path,
    segments,
    type: decl.name.name,
    decl,
    args: env,
    params: [],
    children: new Map(),
    absent: new Set(),
    span,
  };
  const absent = inst.absent as Set<string>;
  const names = new Map<string, Span>();
  const claim = (name: string, s: Span) => {
    const prev = names.get(name);
    if (prev)
      throw new CompileError(
        error('name', `\`${name}\` is declared twice in \`${decl.name.name}\``, s, {
          related: [{ span: prev, message: 'first declared here' }],
        }),
      );
    names.set(name, s);
  };
  let forwardSeen: Span | undefined;
  for (const item of decl.items) {
    switch (item.kind) {
      case 'param': {
        claim(item.name.name, item.name.span);
        if (item.condition && !evalBool(item.condition, env)) {
          absent.add(item.name.name);
          break;
        }
        inst.params.push(paramSlot(item, env, path));
        break;
      }
      case 'child': {
        claim(item.name.name, item.name.span);
        if (item.condition && !evalBool(item.condition, env)) {
          absent.add(item.name.name);
          break;
        }
        inst.children.set(item.name.name, instantiateChild(prog, item, env, path, segments, depth));
        break;
      }
      case 'forward':
        if (forwardSeen)
          throw new CompileError(
            error('name', `\`${decl.name.name}\` has two forward definitions`, item.span, {
              related: [{ span: forwardSeen, message: 'first forward here' }],
            }),
          );
        forwardSeen = item.span;
        (inst as { forward?: typeof item }).forward = item;
        break;
      case 'config':
      case 'input':
      case 'weights':
        break;
    }
  }
  if (!forwardSeen) throw new CompileError(error('module', `\`${decl.name.name}\` has no forward definition`, decl.name.span));
  return inst;
}

function instantiateChild(
  prog: Program,
  c: ChildDecl,
  env: ScalarEnv,
  parent: string,
  segments: string[],
  depth: number,
): Instance | Instance[] {
  const mod = prog.modules.get(c.module.name);
  if (!mod) {
    const help = suggestion(c.module.name, prog.modules.keys());
    const hint = help.help ? help : { help: 'is a `use` missing? (e.g. `use std.nn`)' };
    throw new CompileError(error('name', `unknown module \`${c.module.name}\``, c.module.span, hint));
  }
  const args = bindArgs(mod, c.args, env, c.module.span);
  const path = joinPath(parent, c.name.name);
  if (!c.repeat) return instantiate(prog, mod, args, path, [...segments, c.name.name], c.span, depth + 1);
  const n = evalInt(c.repeat, env);
  if (n < 1) throw new CompileError(error('value', `repeat count must be at least 1, got ${n}`, c.repeat.span));
  if (n > MAX_REPEAT) throw new CompileError(error('value', `repeat count ${n} is more than ${MAX_REPEAT}`, c.repeat.span));
  return Array.from({ length: n }, (_, i) =>
    instantiate(prog, mod, args, `${path}[${i}]`, [...segments, c.name.name, String(i)], c.span, depth + 1),
  );
}

/** Binds call arguments to a module's declared arguments, with type checks and defaults. */
export function bindArgs(mod: ModuleDecl, args: readonly Arg[], env: ScalarEnv, at: Span): Map<string, Scalar> {
  const out = new Map<string, Scalar>();
  const decls = mod.args;
  let positional = 0;
  for (const a of args) {
    let d: ArgDecl | undefined;
    if (a.name) {
      d = decls.find((x) => x.name.name === a.name!.name);
      if (!d) {
        throw new CompileError(
          error(
            'name',
            `\`${mod.name.name}\` has no argument \`${a.name.name}\``,
            a.name.span,
            suggestion(
              a.name.name,
              decls.map((x) => x.name.name),
            ),
          ),
        );
      }
    } else {
      if (out.size > positional) throw new CompileError(error('type', 'positional arguments must come before named ones', a.span));
      d = decls[positional++];
      if (!d) throw new CompileError(error('type', `\`${mod.name.name}\` takes ${decls.length} argument(s), got more`, a.span));
    }
    if (out.has(d.name.name)) throw new CompileError(error('type', `argument \`${d.name.name}\` is given twice`, a.span));
    out.set(d.name.name, coerce(constEval(a.value, env), d, a.value.span));
  }
  for (const d of decls) {
    if (out.has(d.name.name)) continue;
    if (!d.default) throw new CompileError(error('type', `\`${mod.name.name}\` needs argument \`${d.name.name}\` (${d.type})`, at));
    out.set(d.name.name, coerce(constEval(d.default, out), d, d.default.span));
  }
  return out;
}

function coerce(v: Scalar, d: ArgDecl, at: Span): Scalar {
  switch (d.type) {
    case 'int':
      if (v.kind === 'int') return v;
      if (v.kind === 'float' && Number.isInteger(v.v)) return { kind: 'int', v: v.v };
      break;
    case 'float':
      if (v.kind === 'float') return v;
      if (v.kind === 'int' && isConcrete(v.v)) return { kind: 'float', v: v.v };
      break;
    case 'bool':
      if (v.kind === 'bool') return v;
      break;
  }
  throw new CompileError(error('type', `argument \`${d.name.name}\` is ${d.type}, got ${describeScalar(v)}`, at));
}

/** A parameter's shape: explicit, concrete, positive dimensions. */
export function paramShape(t: TensorType, env: ScalarEnv): number[] {
  return t.dims.map((d) => {
    if (d.kind === 'ellipsis') throw new CompileError(error('shape', 'a parameter needs explicit dimensions, not `...`', d.span));
    const v = evalDim(d.expr, env);
    if (!isConcrete(v)) throw new CompileError(error('shape', `a parameter's dimensions must be concrete, got ${v}`, d.span));
    if (v <= 0) throw new CompileError(error('shape', `dimension must be positive, got ${v}`, d.span));
    return v;
  });
}

function paramSlot(p: ParamDecl, env: ScalarEnv, parent: string): ParamSlot {
  const shape = paramShape(p.type, env);
  if (p.type.dtype !== 'f32') throw new CompileError(error('type', 'parameters are f32', p.type.span));
  if (!p.init)
    throw new CompileError(
      error('init', `parameter \`${p.name.name}\` needs an initializer (e.g. \`= zeros\` or \`= normal(0, 0.02)\`)`, p.name.span),
    );
  return {
    name: p.name.name,
    path: joinPath(parent, p.name.name),
    shape,
    init: initSpec(p.init, shape, env),
    trainable: false,
    span: p.span,
  };
}

/** The initializers a `param` may name, with their argument names in order (exported for editors). */
export const initArgs: Readonly<Record<string, readonly string[]>> = {
  zeros: [],
  ones: [],
  normal: ['mean', 'std'],
  uniform: ['low', 'high'],
  kaiming_uniform: ['a'],
};
const initDefaults: Record<string, Record<string, number>> = {
  normal: { mean: 0, std: 1 },
  uniform: { low: 0, high: 1 },
  kaiming_uniform: { a: 0 },
};

export function initSpec(call: InitCall, shape: readonly number[], env: ScalarEnv): InitSpec {
  const kind = call.name.name;
  const names = initArgs[kind];
  if (!names)
    throw new CompileError(error('init', `unknown initializer \`${kind}\``, call.name.span, suggestion(kind, Object.keys(initArgs))));
  const vals: Record<string, number> = { ...initDefaults[kind] };
  let pos = 0;
  for (const a of call.args) {
    const name = a.name ? a.name.name : names[pos++];
    if (name === undefined || !names.includes(name)) {
      const help = a.name ? suggestion(a.name.name, names) : {};
      throw new CompileError(
        error(
          'init',
          a.name ? `\`${kind}\` has no argument \`${a.name.name}\`` : `\`${kind}\` takes ${names.length} argument(s)`,
          a.span,
          help,
        ),
      );
    }
    vals[name] = num(constEval(a.value, env), a.value);
  }
  switch (kind) {
    case 'zeros':
      return { kind: 'zeros' };
    case 'ones':
      return { kind: 'ones' };
    case 'normal':
      return { kind: 'normal', mean: vals.mean!, std: vals.std! };
    case 'uniform':
      return { kind: 'uniform', low: vals.low!, high: vals.high! };
    default: {
      if (shape.length < 2)
        throw new CompileError(error('init', 'kaiming_uniform needs a parameter of rank ≥ 2 (fan-in is its second axis)', call.span));
      const fanIn = shape.slice(1).reduce((x, y) => x * y, 1);
      return { kind: 'kaiming_uniform', a: vals.a!, fanIn };
    }
  }
}
