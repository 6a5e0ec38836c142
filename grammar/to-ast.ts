/**
 * CST → AST. Every node gets a `Span` computed from the tokens it was parsed from.
 *
 * The parser recovers from errors, so any child may be missing: every accessor here tolerates
 * absence, fills in a `<missing>` placeholder where the AST needs a value, and never throws.
 * The few errors only visible on the whole construct (`x ^ 2`, `repeat Layer(dim)` without a count,
 * a non-integer selector index) are reported here into `diagnostics`.
 */
import type { CstElement, CstNode, IToken } from 'chevrotain';
import type * as A from './ast.ts';
import { error, suggestion, type Diagnostic } from '../core/diagnostic.ts';
import { spanCover, type Span } from '../core/span.ts';
import { keywordTokenTypes } from './tokens.ts';

/** Name used for identifiers and expressions the parser had to make up while recovering. */
export const MISSING = '<missing>';

type Part = IToken | CstNode | Span | { readonly span: Span } | undefined;

function isToken(e: CstElement): e is IToken {
  return (e as IToken).image !== undefined && (e as IToken).tokenType !== undefined;
}

function els(n: CstNode | undefined, key: string): CstElement[] {
  return n?.children[key] ?? [];
}
function toks(n: CstNode | undefined, key: string): IToken[] {
  return els(n, key).filter(isToken);
}
function nodes(n: CstNode | undefined, key: string): CstNode[] {
  return els(n, key).filter((e): e is CstNode => !isToken(e));
}
function tok(n: CstNode | undefined, key: string, i = 0): IToken | undefined {
  return toks(n, key)[i];
}
function node(n: CstNode | undefined, key: string, i = 0): CstNode | undefined {
  return nodes(n, key)[i];
}

/** A real token (not one invented by recovery) with known positions. */
function isReal(t: IToken): boolean {
  return !t.isInsertedInRecovery && Number.isFinite(t.startLine) && Number.isFinite(t.startColumn) && Number.isFinite(t.endColumn);
}

export function tokenSpan(t: IToken, file: string): Span | undefined {
  if (!isReal(t)) return undefined;
  return { file, line: t.startLine!, col: t.startColumn!, endLine: t.endLine ?? t.startLine!, endCol: t.endColumn! + 1 };
}

export class AstBuilder {
  private readonly bounds = new WeakMap<CstNode, { first?: IToken; last?: IToken }>();
  /** The most recent real span seen: the fallback position for made-up nodes. */
  private lastSpan: Span;

  constructor(
    readonly file: string,
    readonly diagnostics: Diagnostic[],
  ) {
    this.lastSpan = { file, line: 1, col: 1, endLine: 1, endCol: 1 };
  }

  // ---------------------------------------------------------------- spans

  private tokenBounds(n: CstNode): { first?: IToken; last?: IToken } {
    const cached = this.bounds.get(n);
    if (cached) return cached;
    let first: IToken | undefined;
    let last: IToken | undefined;
    for (const list of Object.values(n.children)) {
      for (const e of list) {
        const b = isToken(e) ? (isReal(e) ? { first: e, last: e } : {}) : this.tokenBounds(e);
        if (b.first && (!first || b.first.startOffset < first.startOffset)) first = b.first;
        if (b.last && (!last || b.last.startOffset > last.startOffset)) last = b.last;
      }
    }
    const r = { first, last };
    this.bounds.set(n, r);
    return r;
  }

  private partSpan(p: Part): Span | undefined {
    if (p === undefined) return undefined;
    if ('span' in p) return p.span;
    if ('file' in p) return p;
    if ('image' in p && 'tokenType' in p) return tokenSpan(p, this.file);
    const { first, last } = this.tokenBounds(p);
    if (!first || !last) return undefined;
    return spanCover(tokenSpan(first, this.file)!, tokenSpan(last, this.file)!);
  }

  /** The span covering every given part; the last known position when none has one. */
  span(...parts: Part[]): Span {
    let s: Span | undefined;
    for (const p of parts) {
      const ps = this.partSpan(p);
      if (ps) s = s ? spanCover(s, ps) : ps;
    }
    if (s) this.lastSpan = s;
    return s ?? this.lastSpan;
  }

  ident(t: IToken | undefined, ...context: Part[]): A.Ident {
    if (t && isReal(t)) return { name: t.image, span: this.span(t) };
    return { name: MISSING, span: this.span(...context) };
  }

  /** A declared name: keywords are accepted by the grammar here only to be reported as reserved. */
  declName(t: IToken | undefined, ...context: Part[]): A.Ident {
    if (t && isReal(t) && keywordTokenTypes.has(t.tokenType)) {
      this.diagnostics.push(
        error('parse', `\`${t.image}\` is a reserved word and cannot be used as a name`, this.span(t), {
          help: `choose another name, e.g. \`${t.image}_\``,
        }),
      );
    }
    return this.ident(t, ...context);
  }

  private missingExpr(...context: Part[]): A.Expr {
    return { kind: 'name', name: MISSING, span: this.span(...context) };
  }

  // ---------------------------------------------------------------- declarations

  decls(file: CstNode): A.TopDecl[] {
    const out: A.TopDecl[] = [];
    for (const top of nodes(file, 'topDecl')) {
      const d = this.topDecl(top);
      if (d) out.push(d);
    }
    return out;
  }

  private topDecl(n: CstNode): A.TopDecl | undefined {
    const use = node(n, 'useDecl');
    if (use) {
      const paths = nodes(use, 'modulePath').map((p) => ({
        parts: toks(p, 'part')
          .filter(isReal)
          .map((t) => t.image),
        span: this.span(p),
      }));
      return { kind: 'use', paths, span: this.span(use) };
    }
    const mod = node(n, 'moduleDecl');
    if (mod) {
      return {
        kind: 'module',
        name: this.declName(tok(mod, 'name'), mod),
        args: nodes(node(mod, 'moduleParams'), 'moduleParam').map((p) => this.moduleParam(p)),
        items: nodes(mod, 'moduleItem').flatMap((i) => this.item(i, ['paramDecl', 'childDecl', 'forwardDecl']) as A.ModuleItem[]),
        span: this.span(mod),
      };
    }
    const model = node(n, 'modelDecl');
    if (model) {
      return {
        kind: 'model',
        name: this.declName(tok(model, 'name'), model),
        items: nodes(model, 'modelItem').flatMap((i) =>
          this.item(i, ['configDecl', 'inputDecl', 'paramDecl', 'childDecl', 'forwardDecl', 'weightsDecl']),
        ),
        span: this.span(model),
      };
    }
    const tune = node(n, 'tuneDecl');
    if (tune) {
      return {
        kind: 'tune',
        name: this.declName(tok(tune, 'name'), tune),
        model: this.declName(tok(tune, 'model'), tune),
        items: nodes(tune, 'tuneItem').flatMap((i) => this.tuneItem(i)),
        span: this.span(tune),
      };
    }
    const method = node(n, 'methodDecl');
    if (method) return this.methodDecl(method);
    return undefined;
  }

  // ---------------------------------------------------------------- methods

  private methodDecl(n: CstNode): A.MethodDecl {
    const name = this.declName(tok(n, 'name'), n);
    const sites = nodes(n, 'methodSite').map((s): A.MethodSite => ({
      module: this.ident(tok(s, 'module'), s),
      bindings: nodes(s, 'methodBinding').map((b) => {
        const member = this.ident(tok(b, 'member'), b);
        const renamed = tok(b, 'name');
        return { member, name: renamed ? this.declName(renamed, b) : this.declName(tok(b, 'member'), b), span: this.span(b) };
      }),
      span: this.span(s),
    }));
    const items: A.MethodItem[] = [];
    let firstRewrite: Span | undefined;
    for (const item of nodes(n, 'methodItem')) {
      const p = node(item, 'paramDecl');
      const rw = node(item, 'rewriteDecl');
      const hk = node(item, 'methodHook');
      if (p) {
        items.push({ ...this.paramDecl(p), shared: tok(item, 'sharedKeyword') !== undefined, span: this.span(item) });
      } else if (rw) {
        const r: A.RewriteDecl = {
          kind: 'rewrite',
          inputs: toks(rw, 'input')
            .filter(isReal)
            .map((t) => this.declName(t)),
          body: this.block(node(rw, 'rewriteBody'), rw),
          span: this.span(rw),
        };
        if (firstRewrite) {
          this.diagnostics.push(
            error('parse', `method \`${name.name}\` has a second \`rewrite\` block`, this.span(tok(rw, 'rewriteKeyword') ?? rw), {
              help: 'a method has one `rewrite`; combine the two into one block',
              related: [{ span: firstRewrite, message: 'first `rewrite` here' }],
            }),
          );
          continue;
        }
        firstRewrite = this.span(tok(rw, 'rewriteKeyword') ?? rw);
        items.push(r);
      } else if (hk) {
        items.push({
          kind: 'hook',
          name: this.ident(tok(hk, 'hookName'), hk),
          input: this.declName(tok(hk, 'input'), hk),
          body: this.block(node(hk, 'hookBody'), hk),
          span: this.span(hk),
        });
      }
    }
    return {
      kind: 'method',
      name,
      options: nodes(node(n, 'methodOptions'), 'methodOption').map((o) => this.moduleParam(o)),
      sites,
      items,
      span: this.span(n),
    };
  }

  private moduleParam(n: CstNode): A.ArgDecl {
    const typeTok = els(node(n, 'scalarType'), 'Int')
      .concat(els(node(n, 'scalarType'), 'Float'), els(node(n, 'scalarType'), 'Bool'))
      .filter(isToken)[0];
    const def = node(n, 'default');
    return {
      name: this.declName(tok(n, 'name'), n),
      type: (typeTok?.image as A.ScalarTypeName | undefined) ?? 'int',
      ...(def ? { default: this.expr(def) } : {}),
      span: this.span(n),
    };
  }

  /** Converts a module or model item; `allowed` lists the item rules that can appear there. */
  private item(n: CstNode, allowed: readonly string[]): A.ModelItem[] {
    for (const rule of allowed) {
      const c = node(n, rule);
      if (!c) continue;
      switch (rule) {
        case 'paramDecl':
          return [this.paramDecl(c)];
        case 'childDecl':
          return [this.childDecl(c)];
        case 'forwardDecl':
          return [this.forwardDecl(c)];
        case 'configDecl':
          return [{ kind: 'config', entries: nodes(c, 'configEntry').map((e) => this.configEntry(e)), span: this.span(c) }];
        case 'inputDecl':
          return [
            { kind: 'input', name: this.declName(tok(c, 'name'), c), type: this.tensorType(node(c, 'tensorType'), c), span: this.span(c) },
          ];
        case 'weightsDecl':
          return this.weightsDecl(c);
      }
    }
    return [];
  }

  private weightsDecl(n: CstNode): A.WeightsDecl[] {
    const word = tok(n, 'word');
    if (!word || !isReal(word)) return [];
    if (word.image !== 'weights') {
      this.diagnostics.push(
        error(
          'parse',
          `unknown model block \`${word.image}\`: a model's blocks are \`config { ... }\`, \`forward { ... }\` and \`weights { ... }\``,
          this.span(word),
          suggestion(word.image, ['weights', 'config', 'forward']),
        ),
      );
      return [];
    }
    return [{ kind: 'weights', entries: nodes(n, 'configEntry').map((e) => this.configEntry(e)), span: this.span(n) }];
  }

  private configEntry(n: CstNode): A.ConfigEntry {
    const v = node(n, 'value');
    return { name: this.declName(tok(n, 'name'), n), value: v ? this.expr(v) : this.missingExpr(n), span: this.span(n) };
  }

  private paramDecl(n: CstNode): A.ParamDecl {
    const init = node(n, 'initCall');
    const cond = node(n, 'condition');
    return {
      kind: 'param',
      name: this.declName(tok(n, 'name'), n),
      type: this.tensorType(node(n, 'tensorType'), n),
      ...(init
        ? { init: { name: this.ident(tok(init, 'name'), init), args: this.args(node(init, 'argList')), span: this.span(init) } }
        : {}),
      ...(cond ? { condition: this.expr(cond) } : {}),
      span: this.span(n),
    };
  }

  private childDecl(n: CstNode): A.ChildDecl {
    const name = this.ident(tok(n, 'name'), n);
    const cond = node(n, 'condition');
    const call = node(n, 'moduleCall');
    const countNode = node(n, 'count');
    let count = countNode ? this.expr(countNode) : undefined;
    let module: A.Ident;
    let args: readonly A.Arg[] = [];
    if (call) {
      module = this.moduleRef(call);
      args = this.args(node(call, 'argList'));
    } else if (count?.kind === 'call' && (count.callee.kind === 'name' || count.callee.kind === 'member')) {
      // `repeat Layer(dim)`: the module call was taken for the count.
      this.diagnostics.push(
        error('parse', `expected a repeat count after \`repeat\`, found the module call`, count.span, {
          help: 'write `repeat N Module(args)`, e.g. `repeat 4 Layer(dim)`',
        }),
      );
      module = { name: dotted(count.callee), span: count.callee.span };
      args = count.args;
      count = { kind: 'name', name: MISSING, span: this.span(tok(n, 'Repeat')) };
    } else {
      if (count) {
        this.diagnostics.push(error('parse', `expected a module call after the repeat count, e.g. \`repeat 4 Layer(dim)\``, count.span));
      }
      module = { name: MISSING, span: this.span(n) };
    }
    return {
      kind: 'child',
      name,
      module,
      args,
      ...(count ? { repeat: count } : {}),
      ...(cond ? { condition: this.expr(cond) } : {}),
      span: this.span(n),
    };
  }

  /** `Linear` or `vit.Encoder`: a dotted module reference, kept as one identifier. */
  private moduleRef(call: CstNode): A.Ident {
    const parts = toks(call, 'part').filter(isReal);
    if (parts.length === 0) return { name: MISSING, span: this.span(call) };
    return { name: parts.map((t) => t.image).join('.'), span: this.span(parts[0], parts[parts.length - 1]) };
  }

  private forwardDecl(n: CstNode): A.ForwardDecl {
    const params = nodes(node(n, 'forwardParams'), 'forwardParam').map((p): A.ForwardParam => {
      const t = node(p, 'tensorType');
      const def = node(p, 'default');
      return {
        name: this.declName(tok(p, 'name'), p),
        ...(t ? { type: this.tensorType(t, p) } : {}),
        ...(def ? { default: this.expr(def) } : {}),
        span: this.span(p),
      };
    });
    const ret = node(n, 'returns');
    return {
      kind: 'forward',
      params,
      ...(ret ? { returns: this.tensorType(ret, n) } : {}),
      body: this.block(node(n, 'block'), n),
      span: this.span(n),
    };
  }

  // ---------------------------------------------------------------- tunes

  private tuneItem(n: CstNode): A.TuneItem[] {
    const block = tok(n, 'LBrace') && tok(n, 'method');
    if (block) {
      if (!isReal(block)) return [];
      if (block.image !== 'optimizer') {
        this.diagnostics.push(
          error(
            'parse',
            `unknown tune block \`${block.image}\`: the only block a tune takes is \`optimizer { ... }\``,
            this.span(block),
            suggestion(block.image, ['optimizer']),
          ),
        );
        return [];
      }
      return [{ kind: 'optimizer', entries: nodes(n, 'configEntry').map((e) => this.configEntry(e)), span: this.span(n) }];
    }
    const selectors = nodes(node(n, 'selectorList'), 'selector').map((s) => this.selector(s));
    if (tok(n, 'Train')) return [{ kind: 'train', selectors, span: this.span(n) }];
    if (tok(n, 'Freeze')) return [{ kind: 'freeze', selectors, span: this.span(n) }];
    const method = tok(n, 'method');
    if (!method) return [];
    return [{ kind: 'apply', method: this.ident(method, n), args: this.args(node(n, 'argList')), selectors, span: this.span(n) }];
  }

  private selector(n: CstNode): A.Selector {
    const segments: A.SelectorSeg[] = [];
    for (const seg of nodes(n, 'selectorSeg')) {
      const name = tok(seg, 'name');
      const alt = node(seg, 'selectorAlt');
      if (name && isReal(name)) segments.push({ kind: 'name', name: name.image, span: this.span(name) });
      else if (tok(seg, 'GlobStar')) segments.push({ kind: 'globstar', span: this.span(tok(seg, 'GlobStar')) });
      else if (tok(seg, 'Star')) segments.push({ kind: 'star', span: this.span(tok(seg, 'Star')) });
      else if (alt)
        segments.push({
          kind: 'alt',
          names: toks(alt, 'name')
            .filter(isReal)
            .map((t) => this.ident(t)),
          span: this.span(alt),
        });
      const range = node(seg, 'selectorRange');
      if (range) {
        const r = this.selectorRange(range);
        if (r) segments.push(r);
      }
    }
    return { segments, span: this.span(n) };
  }

  /** `[3]` becomes `{start: 3, end: 4}`; `[2..]` has no end; `[0..5]` is end-exclusive. */
  private selectorRange(n: CstNode): A.SelectorSeg | undefined {
    const startTok = tok(n, 'start');
    if (!startTok || !isReal(startTok)) return undefined;
    const start = this.selectorIndex(startTok);
    const endTok = tok(n, 'end');
    const span = this.span(n);
    if (!tok(n, 'DotDot')) return { kind: 'range', start, end: start + 1, span };
    if (!endTok || !isReal(endTok)) return { kind: 'range', start, span };
    const end = this.selectorIndex(endTok);
    if (end <= start) {
      this.diagnostics.push(
        error('parse', `empty selector range \`[${start}..${end}]\`: the end (exclusive) must be greater than the start`, span),
      );
    }
    return { kind: 'range', start, end, span };
  }

  private selectorIndex(t: IToken): number {
    if (!/^\d+$/.test(t.image)) {
      this.diagnostics.push(error('parse', `selector indices must be non-negative integers, found \`${t.image}\``, this.span(t)));
      return Math.max(0, Math.floor(Number(t.image) || 0));
    }
    return Number(t.image);
  }

  // ---------------------------------------------------------------- types and blocks

  private tensorType(n: CstNode | undefined, context: Part): A.TensorType {
    const d = node(n, 'dtype');
    const dtypeTok = tok(d, 'F32') ?? tok(d, 'I32');
    const dims = nodes(n, 'dim').map((dim): A.DimExpr => {
      const ell = tok(dim, 'Ellipsis');
      if (ell) return { kind: 'ellipsis', span: this.span(ell) };
      const e = node(dim, 'expression');
      return { kind: 'dim', expr: e ? this.expr(e) : this.missingExpr(dim), span: this.span(dim) };
    });
    return { dtype: dtypeTok?.image === 'i32' ? 'i32' : 'f32', dims, span: this.span(n ?? context) };
  }

  /** Statements, then at most one expression, which must come last (the grammar accepts any order). */
  private block(n: CstNode | undefined, context: Part): A.Block {
    const items = [...nodes(n, 'statement'), ...nodes(n, 'expr')].sort((a, b) => this.offset(a) - this.offset(b));
    const stmts: A.Stmt[] = [];
    let result: A.Expr | undefined;
    let reported = false;
    for (const item of items) {
      if (result && !reported) {
        reported = true;
        const first = this.tokenBounds(item).first;
        const what = first && keywordTokenTypes.has(first.tokenType) ? `keyword \`${first.image}\`` : `\`${first?.image ?? ''}\``;
        const help =
          item.name === 'statement'
            ? 'statements must come before the final expression of a block'
            : 'a block can end with at most one expression; bind earlier values with `let`';
        this.diagnostics.push(
          error('parse', `expected \`}\` after the block's final expression, found ${what}`, this.span(first ?? item), { help }),
        );
      }
      if (item.name === 'statement') {
        const st = this.stmt(item);
        if (st) stmts.push(st);
      } else {
        result = this.expr(item);
      }
    }
    // Only the last item can be the block's value.
    const last = items[items.length - 1];
    if (last?.name === 'statement') result = undefined;
    return { stmts, ...(result ? { result } : {}), span: this.span(n ?? context) };
  }

  private offset(n: CstNode): number {
    return this.tokenBounds(n).first?.startOffset ?? Number.MAX_SAFE_INTEGER;
  }

  private stmt(n: CstNode): A.Stmt | undefined {
    const letS = node(n, 'letStmt');
    const lossS = node(n, 'lossStmt');
    const outS = node(n, 'outputStmt');
    const s = letS ?? lossS ?? outS;
    if (!s) return undefined;
    const v = node(s, 'value');
    const value = v ? this.expr(v) : this.missingExpr(s);
    const span = this.span(s);
    if (lossS) return { kind: 'loss', value, span };
    return { kind: letS ? 'let' : 'output', name: this.declName(tok(s, 'name'), s), value, span };
  }

  // ---------------------------------------------------------------- expressions

  expr(n: CstNode | undefined): A.Expr {
    if (!n) return this.missingExpr();
    switch (n.name) {
      case 'expression':
      case 'dim':
        return this.expr(node(n, 'orExpr') ?? node(n, 'expression'));
      case 'orExpr':
      case 'andExpr':
      case 'comparison':
      case 'additive':
      case 'multiplicative':
        return this.binaryChain(n);
      case 'notExpr':
      case 'unary':
        return this.prefix(n);
      case 'postfix':
        return this.postfix(n);
      default:
        return this.missingExpr(n);
    }
  }

  private binaryChain(n: CstNode): A.Expr {
    const operands = nodes(n, 'operand');
    const ops = toks(n, 'op');
    let left = this.expr(operands[0]);
    for (let i = 0; i < ops.length; i++) {
      const opTok = ops[i]!;
      const rightNode = operands[i + 1];
      if (!rightNode) break;
      const right = this.expr(rightNode);
      left = { kind: 'binary', op: opTok.image as A.BinaryOp, left, right, opSpan: this.span(opTok), span: this.span(left, right) };
    }
    return left;
  }

  private prefix(n: CstNode): A.Expr {
    const op = tok(n, 'op');
    const operandNode = node(n, 'operand');
    if (!op) return this.expr(operandNode);
    const operand = operandNode ? this.expr(operandNode) : this.missingExpr(op);
    return { kind: 'unary', op: op.image === 'not' ? 'not' : '-', operand, span: this.span(op, operand) };
  }

  private postfix(n: CstNode): A.Expr {
    let e = this.primary(node(n, 'primary'));
    for (const s of nodes(n, 'suffix')) {
      const argList = node(s, 'argList');
      const index = node(s, 'indexSuffix');
      const member = tok(s, 'member');
      const caret = tok(s, 'Caret');
      if (argList) {
        e = { kind: 'call', callee: e, args: this.args(argList), span: this.span(e, argList) };
      } else if (index) {
        e = { kind: 'indexing', target: e, items: nodes(index, 'indexItem').map((i) => this.indexItem(i)), span: this.span(e, index) };
      } else if (tok(s, 'Dot')) {
        e = { kind: 'member', target: e, member: this.ident(member, s), span: this.span(e, s) };
      } else if (tok(s, 'Transpose')) {
        e = { kind: 'transpose', operand: e, span: this.span(e, s) };
      } else if (caret) {
        const arg = tok(s, 'caretArg');
        const help =
          arg?.image === 'T' ? 'remove the space: write `x^T`' : 'only transpose is supported; write `x^T` (there is no power operator)';
        this.diagnostics.push(error('parse', '`^` must be followed immediately by `T` (transpose)', this.span(caret), { help }));
        e = { kind: 'transpose', operand: e, span: this.span(e, s) };
      }
    }
    return e;
  }

  args(n: CstNode | undefined): A.Arg[] {
    return nodes(n, 'arg').map((a) => {
      const name = tok(a, 'name');
      const v = node(a, 'value');
      const value = v ? this.expr(v) : this.missingExpr(a);
      return { ...(name ? { name: this.ident(name, a) } : {}), value, span: this.span(a) };
    });
  }

  private indexItem(n: CstNode): A.IndexItem {
    const span = this.span(n);
    if (tok(n, 'Ellipsis')) return { kind: 'ellipsis', span };
    const start = node(n, 'start');
    const rest = node(n, 'sliceRest');
    if (!rest) return { kind: 'index', value: this.expr(start), span };
    const stop = node(rest, 'stop');
    const step = node(rest, 'step');
    return {
      kind: 'slice',
      ...(start ? { start: this.expr(start) } : {}),
      ...(stop ? { stop: this.expr(stop) } : {}),
      ...(step ? { step: this.expr(step) } : {}),
      span,
    };
  }

  private primary(n: CstNode | undefined): A.Expr {
    if (!n) return this.missingExpr();
    const paren = node(n, 'parenExpr');
    if (paren) {
      // No paren node in the AST: keep the inner expression, widened to cover the parentheses.
      const inner = this.expr(node(paren, 'expression'));
      return { ...inner, span: this.span(paren) };
    }
    const hook = node(n, 'hookExpr');
    if (hook) {
      const name = tok(hook, 'hookName');
      const v = node(hook, 'value');
      return { kind: 'hook', name: this.ident(name, hook), value: v ? this.expr(v) : this.missingExpr(hook), span: this.span(hook) };
    }
    const list = node(n, 'listExpr');
    if (list) return { kind: 'list', items: nodes(list, 'item').map((i) => this.expr(i)), span: this.span(list) };
    const t = Object.values(n.children).flat().find(isToken);
    if (!t || !isReal(t)) return this.missingExpr(n);
    const span = this.span(t);
    switch (t.tokenType.name) {
      case 'NumberLit':
      case 'BadNumber': {
        const value = Number(t.image);
        return { kind: 'number', value: Number.isFinite(value) ? value : parseFloat(t.image) || 0, isInt: /^\d+$/.test(t.image), span };
      }
      case 'StringLit':
        return { kind: 'string', value: unescape(t.image.slice(1, -1)), span };
      case 'UnterminatedString':
        return { kind: 'string', value: unescape(t.image.slice(1)), span };
      case 'True':
        return { kind: 'bool', value: true, span };
      case 'False':
        return { kind: 'bool', value: false, span };
      case 'None':
        return { kind: 'none', span };
      default:
        return { kind: 'name', name: t.image, span };
    }
  }
}

function unescape(s: string): string {
  return s.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c === 't' ? '\t' : c === 'r' ? '\r' : c));
}

function dotted(e: A.Expr): string {
  if (e.kind === 'name') return e.name;
  if (e.kind === 'member') return `${dotted(e.target)}.${e.member.name}`;
  return MISSING;
}
