/**
 * The `PeftMethod` of a checked `.mile` method (see `mile-method.ts`): its parameters, created
 * per site (or once per application for `shared` ones) with shapes evaluated from the options and
 * the site's bound arguments, and its `rewrite` and `hook` blocks, evaluated at each call of a
 * site by the lowering evaluator so that their errors point into the method's source.
 */
import type { Block, MethodDecl, MethodHookDecl, MethodParamDecl } from '../../grammar/ast.ts';
import { CompileError, error } from '../../core/diagnostic.ts';
import type { Span } from '../../core/span.ts';
import type { NodeId } from '../ir/graph.ts';
import { type FunctionArg, tensor, type Value } from '../lower/value.ts';
import { describeScalar, evalBool } from '../sema/consteval.ts';
import { initSpec, paramShape } from '../sema/elaborate.ts';
import type { Attachment, Instance, Scalar } from '../sema/instance.ts';
import type { AddedParam, MethodOptions, PeftMethod, RewriteContext } from './method.ts';
import { baseInHook, type BindingKind, type CheckedMethod, scalarNames } from './mile-method-check.ts';

/** The method as the compiler sees it: parameters and blocks are evaluated per site, when a tune attaches it. */
export function toPeftMethod(m: CheckedMethod): PeftMethod {
  return {
    name: m.name,
    summary: `written in .mile (${m.decl.span.file}:${m.decl.span.line})`,
    sites: [...m.sites.keys()],
    options: m.options,
    ...(m.hooks.length ? { hooks: m.hooks.map((h) => h.name.name) } : {}),
    params: (site, o, attached) => siteParams(m, site, o, attached),
    ...(m.shared.length ? { shared: (siteList: readonly Instance[], o: MethodOptions) => sharedParams(m, siteList, o) } : {}),
    rewrite: (ctx) => rewriteSite(m, ctx),
  };
}

/** The options' values as scalars, by name. */
function optionScalars(m: CheckedMethod, o: MethodOptions): Map<string, Scalar> {
  const env = new Map<string, Scalar>();
  for (const [k, t] of m.optionTypes) {
    const v = o[k]!;
    env.set(
      k,
      t === 'bool' ? { kind: 'bool', v: v as boolean } : t === 'int' ? { kind: 'int', v: v as number } : { kind: 'float', v: v as number },
    );
  }
  return env;
}

function siteParams(m: CheckedMethod, site: Instance, o: MethodOptions, attached: readonly Attachment[]): AddedParam[] {
  const pat = m.sites.get(site.type)!;
  const env = optionScalars(m, o);
  for (const [b, kind] of pat.kinds) if (kind === 'argument') env.set(b, site.args.get(pat.members.get(b)!)!);
  const taken = new Map<string, string>();
  for (const p of site.params) taken.set(p.name, `a parameter of ${site.type}`);
  for (const a of attached) for (const p of a.params) taken.set(p.name, `added by \`${a.method}\``);
  const note = { span: site.span, message: `while adding the parameters of \`${m.name}\` at \`${site.path}\` (${site.type})` };
  return noted(m.decl, note, () =>
    m.perSite.flatMap((p) => {
      const added = addedParam(p, env);
      const clash = added && taken.get(added.name);
      if (clash) {
        throw new CompileError(
          error(
            'name',
            `\`${m.name}\` adds parameter \`${added.name}\` at \`${site.path}\`, which already has a parameter \`${added.name}\` (${clash})`,
            p.name.span,
            {
              help: 'rename the parameter in the method',
            },
          ),
        );
      }
      return added ? [added] : [];
    }),
  );
}

/** Shared parameters, created once per application: the scalars their shapes use must agree between its sites. */
function sharedParams(m: CheckedMethod, siteList: readonly Instance[], o: MethodOptions): AddedParam[] {
  const env = optionScalars(m, o);
  const differing = new Map<string, string>();
  const bound = (s: Instance, b: string) => s.args.get(m.sites.get(s.type)!.members.get(b)!)!;
  for (const b of m.scalarBindings) {
    const vals = siteList.map((s) => bound(s, b));
    if (vals.every((v) => describeScalar(v) === describeScalar(vals[0]!))) env.set(b, vals[0]!);
    else
      differing.set(
        b,
        siteList
          .map((s, i) => `${describeScalar(vals[i]!)} at \`${s.path}\``)
          .slice(0, 3)
          .join(', '),
      );
  }
  return m.shared.flatMap((p) => {
    for (const ref of scalarNames(p)) {
      const d = differing.get(ref.name);
      if (d) {
        throw new CompileError(
          error('shape', `shared parameter \`${p.name.name}\` uses \`${ref.name}\`, which differs between the sites (${d})`, ref.span, {
            help: 'a shared parameter is created once for all sites of the tune item; select sites that agree, or make it per-site',
          }),
        );
      }
    }
    const added = addedParam(p, env);
    return added ? [added] : [];
  });
}

/** Evaluates the method's `hook` and `rewrite` blocks at one call of a site. */
function rewriteSite(m: CheckedMethod, ctx: RewriteContext): NodeId {
  const { rewrite, name } = m;
  const site = ctx.site;
  const vars = blockScope(m, ctx);
  const note = { span: ctx.origin, message: `in \`${name}\` at \`${site.path}\` (${site.type}), applied here` };
  for (const h of m.hooks) {
    ctx.hook(h.name.name, (x: NodeId) =>
      noted(m.decl, note, () => {
        const hv = new Map(vars);
        hv.set('base', notInHook(h));
        hv.set(h.input.name, tensor(x));
        return resultOf(ctx, ctx.evalBlock(h.body, hv), h.body, `hook ${h.name.name}`);
      }),
    );
  }
  if (!rewrite) return ctx.base(ctx.args);
  vars.set('base', baseFunction(ctx));
  return noted(m.decl, note, () => resultOf(ctx, ctx.evalBlock(rewrite.body, vars), rewrite.body, 'rewrite'));
}

/** What the blocks see at one call: options, site bindings, parameters and the rewrite's inputs. */
function blockScope(m: CheckedMethod, ctx: RewriteContext): Map<string, Value> {
  const { rewrite, name } = m;
  const site = ctx.site;
  const pat = m.sites.get(site.type)!;
  const vars = new Map<string, Value>();
  for (const [k, v] of optionScalars(m, ctx.options)) vars.set(k, v);
  for (const [b, kind] of pat.kinds) vars.set(b, siteValue(site, pat.members.get(b)!, kind, ctx));
  for (const p of m.perSite)
    vars.set(p.name.name, ctx.params[p.name.name] !== undefined ? tensor(ctx.params[p.name.name]!) : { kind: 'none' });
  for (const p of m.shared)
    vars.set(p.name.name, ctx.shared[p.name.name] !== undefined ? tensor(ctx.shared[p.name.name]!) : { kind: 'none' });
  if (rewrite) {
    if (ctx.args.length > rewrite.inputs.length) {
      throw new CompileError(
        error(
          'method',
          `this call of \`${site.path}\` passes ${ctx.args.length} tensor inputs, but the \`rewrite\` of \`${name}\` names ${rewrite.inputs.length}`,
          rewrite.span,
          {
            related: [{ span: ctx.origin, message: `\`${name}\` applied here` }],
          },
        ),
      );
    }
    rewrite.inputs.forEach((inp, i) => vars.set(inp.name, ctx.args[i] !== undefined ? tensor(ctx.args[i]!) : { kind: 'none' }));
  }
  return vars;
}

function addedParam(p: MethodParamDecl, env: Map<string, Scalar>): AddedParam | undefined {
  if (p.condition && !evalBool(p.condition, env)) return undefined;
  const shape = paramShape(p.type, env);
  return { name: p.name.name, shape, init: initSpec(p.init!, shape, env) };
}

/** The value of a name bound from the site: an argument (scalar), a parameter (tensor) or a child (module). */
function siteValue(site: Instance, name: string, kind: BindingKind, ctx: RewriteContext): Value {
  if (site.absent.has(name)) return { kind: 'none' };
  switch (kind) {
    case 'argument':
      return site.args.get(name)!;
    case 'parameter': {
      const id = ctx.siteParams[name];
      return id === undefined ? { kind: 'none' } : tensor(id);
    }
    case 'child': {
      const c = site.children.get(name);
      if (!c) return { kind: 'none' };
      return Array.isArray(c) ? { kind: 'modules', list: c } : { kind: 'module', inst: c };
    }
  }
}

/** `base(...)`: the site's original forward on the given tensors, one per tensor input of the call. */
function baseFunction(ctx: RewriteContext): Value {
  return {
    kind: 'function',
    name: 'base',
    call(args: readonly FunctionArg[], at: Span): Value {
      const named = args.find((a) => a.name);
      if (named)
        throw new CompileError(error('type', `\`base\` takes the site's inputs by position, not by name (\`${named.name}\`)`, named.span));
      const ids = args.filter((a) => a.value.kind !== 'none').map((a) => ctx.tensorOf(a.value, a.span));
      if (ids.length !== ctx.args.length) {
        throw new CompileError(
          error(
            'type',
            `\`base\` takes ${ctx.args.length} tensor input${ctx.args.length === 1 ? '' : 's'} here (those of this call of \`${ctx.site.path}\`), got ${ids.length}`,
            at,
            {
              help: 'call it like the site itself, e.g. `base(x)`',
            },
          ),
        );
      }
      return tensor(ctx.base(ids));
    },
  };
}

function notInHook(h: MethodHookDecl): Value {
  return {
    kind: 'function',
    name: 'base',
    call(_args, at) {
      throw baseInHook(h).error(at);
    },
  };
}

function resultOf(ctx: RewriteContext, v: Value | undefined, body: Block, what: string): NodeId {
  if (!v || !body.result)
    throw new CompileError(
      error('method', `the \`${what}\` block has no result expression`, body.span, { help: 'end the block with the new value' }),
    );
  return ctx.tensorOf(v, body.result.span);
}

/**
 * Runs `f`; an error located inside the method's declaration gets a note saying where the
 * method was applied (the same method source serves many sites).
 */
function noted<T>(decl: MethodDecl, note: { span: Span; message: string }, f: () => T): T {
  try {
    return f();
  } catch (e) {
    if (
      !(e instanceof CompileError) ||
      !within(e.diagnostic.span, decl.span) ||
      e.diagnostic.related?.some((r) => r.message === note.message)
    )
      throw e;
    throw new CompileError({ ...e.diagnostic, related: [...(e.diagnostic.related ?? []), note] });
  }
}

function within(s: Span, outer: Span): boolean {
  if (s.file !== outer.file) return false;
  const after = s.line > outer.line || (s.line === outer.line && s.col >= outer.col);
  const before = s.line < outer.endLine || (s.line === outer.endLine && s.col <= outer.endCol);
  return after && before;
}
