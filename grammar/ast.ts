/**
 * The abstract syntax of `.mile` files. Every node carries the span it was parsed from,
 * so any later stage can point a diagnostic back at the source.
 */
import type { Span } from '../core/span.ts';

export interface Ident {
  readonly name: string;
  readonly span: Span;
}

// ---------------------------------------------------------------- expressions

export type Expr =
  | NumberLit
  | BoolLit
  | NoneLit
  | StringLit
  | NameRef
  | ListExpr
  | UnaryExpr
  | BinaryExpr
  | TransposeExpr
  | CallExpr
  | IndexExpr
  | MemberExpr
  | HookExpr;

export interface NumberLit {
  readonly kind: 'number';
  readonly value: number;
  /** True when written without a decimal point or exponent (`8`, not `8.0`). */
  readonly isInt: boolean;
  readonly span: Span;
}
export interface BoolLit {
  readonly kind: 'bool';
  readonly value: boolean;
  readonly span: Span;
}
export interface NoneLit {
  readonly kind: 'none';
  readonly span: Span;
}
export interface StringLit {
  readonly kind: 'string';
  readonly value: string;
  readonly span: Span;
}
export interface NameRef {
  readonly kind: 'name';
  readonly name: string;
  readonly span: Span;
}
export interface ListExpr {
  readonly kind: 'list';
  readonly items: readonly Expr[];
  readonly span: Span;
}
export type UnaryOp = '-' | 'not';
export interface UnaryExpr {
  readonly kind: 'unary';
  readonly op: UnaryOp;
  readonly operand: Expr;
  readonly span: Span;
}
export type BinaryOp = '+' | '-' | '*' | '/' | '%' | '@' | '==' | '!=' | '<' | '<=' | '>' | '>=' | 'and' | 'or';
export interface BinaryExpr {
  readonly kind: 'binary';
  readonly op: BinaryOp;
  readonly left: Expr;
  readonly right: Expr;
  /** Span of the operator token alone, for diagnostics about the operation itself. */
  readonly opSpan: Span;
  readonly span: Span;
}
/** `x^T`: swaps the last two axes. */
export interface TransposeExpr {
  readonly kind: 'transpose';
  readonly operand: Expr;
  readonly span: Span;
}
export interface Arg {
  /** Present for named arguments (`dim = -1`). */
  readonly name?: Ident;
  readonly value: Expr;
  readonly span: Span;
}
export interface CallExpr {
  readonly kind: 'call';
  readonly callee: Expr;
  readonly args: readonly Arg[];
  readonly span: Span;
}
/** One entry of `x[...]`: an index expression, a slice `a:b:c` (any part optional), or `...`. */
export type IndexItem =
  | { readonly kind: 'index'; readonly value: Expr; readonly span: Span }
  | { readonly kind: 'slice'; readonly start?: Expr; readonly stop?: Expr; readonly step?: Expr; readonly span: Span }
  | { readonly kind: 'ellipsis'; readonly span: Span };
export interface IndexExpr {
  readonly kind: 'indexing';
  readonly target: Expr;
  readonly items: readonly IndexItem[];
  readonly span: Span;
}
export interface MemberExpr {
  readonly kind: 'member';
  readonly target: Expr;
  readonly member: Ident;
  readonly span: Span;
}

/**
 * `hook keys(k)`: evaluates to `k`, unless a PEFT method attached to the enclosing module
 * instance intervenes at the hook named `keys` (prefix tuning extends keys and values here).
 */
export interface HookExpr {
  readonly kind: 'hook';
  readonly name: Ident;
  readonly value: Expr;
  readonly span: Span;
}

// ---------------------------------------------------------------- types

export type DType = 'f32' | 'i32';
/** One dimension in a tensor type: `...`, or an expression (`B`, `768`, `dim / heads`). */
export type DimExpr =
  { readonly kind: 'ellipsis'; readonly span: Span } | { readonly kind: 'dim'; readonly expr: Expr; readonly span: Span };
export interface TensorType {
  readonly dtype: DType;
  readonly dims: readonly DimExpr[];
  readonly span: Span;
}
export type ScalarTypeName = 'int' | 'float' | 'bool';

// ---------------------------------------------------------------- statements and bodies

export type Stmt =
  | { readonly kind: 'let'; readonly name: Ident; readonly value: Expr; readonly span: Span }
  | { readonly kind: 'loss'; readonly value: Expr; readonly span: Span }
  | { readonly kind: 'output'; readonly name: Ident; readonly value: Expr; readonly span: Span };

export interface Block {
  readonly stmts: readonly Stmt[];
  /** The block's value: the trailing expression, if any. */
  readonly result?: Expr;
  readonly span: Span;
}

// ---------------------------------------------------------------- declarations

export interface ArgDecl {
  readonly name: Ident;
  readonly type: ScalarTypeName;
  readonly default?: Expr;
  readonly span: Span;
}

/** `normal(0, 0.02)`, `zeros`, `kaiming_uniform(a = sqrt(5))`. */
export interface InitCall {
  readonly name: Ident;
  readonly args: readonly Arg[];
  readonly span: Span;
}

export interface ParamDecl {
  readonly kind: 'param';
  readonly name: Ident;
  readonly type: TensorType;
  readonly init?: InitCall;
  readonly condition?: Expr;
  readonly span: Span;
}

/** `query = Linear(dim, dim)` or `layers = repeat depth Block(dim, heads)`. */
export interface ChildDecl {
  readonly kind: 'child';
  readonly name: Ident;
  readonly module: Ident;
  readonly args: readonly Arg[];
  readonly repeat?: Expr;
  readonly condition?: Expr;
  readonly span: Span;
}

export interface ForwardParam {
  readonly name: Ident;
  readonly type?: TensorType;
  /** `context: f32[B, S, w] = none` makes an argument optional. */
  readonly default?: Expr;
  readonly span: Span;
}

export interface ForwardDecl {
  readonly kind: 'forward';
  readonly params: readonly ForwardParam[];
  readonly returns?: TensorType;
  readonly body: Block;
  readonly span: Span;
}

export interface ConfigEntry {
  readonly name: Ident;
  readonly value: Expr;
  readonly span: Span;
}
export interface ConfigDecl {
  readonly kind: 'config';
  readonly entries: readonly ConfigEntry[];
  readonly span: Span;
}
export interface InputDecl {
  readonly kind: 'input';
  readonly name: Ident;
  readonly type: TensorType;
  readonly span: Span;
}

export type ModuleItem = ParamDecl | ChildDecl | ForwardDecl;
/** `weights { file = "…", map = "…", prefix = "…" }`: checked by compiler/sema (model weights). */
export interface WeightsDecl {
  readonly kind: 'weights';
  readonly entries: readonly ConfigEntry[];
  readonly span: Span;
}

export type ModelItem = ParamDecl | ChildDecl | ForwardDecl | ConfigDecl | InputDecl | WeightsDecl;

export interface ModuleDecl {
  readonly kind: 'module';
  readonly name: Ident;
  readonly args: readonly ArgDecl[];
  readonly items: readonly ModuleItem[];
  readonly span: Span;
}
export interface ModelDecl {
  readonly kind: 'model';
  readonly name: Ident;
  readonly items: readonly ModelItem[];
  readonly span: Span;
}

// ---------------------------------------------------------------- tunes and selectors

/** One segment of a selector path. */
export type SelectorSeg =
  | { readonly kind: 'name'; readonly name: string; readonly span: Span }
  | { readonly kind: 'star'; readonly span: Span } // `*`: exactly one segment
  | { readonly kind: 'globstar'; readonly span: Span } // `**`: zero or more segments
  | { readonly kind: 'alt'; readonly names: readonly Ident[]; readonly span: Span } // `{a, b}`
  | { readonly kind: 'range'; readonly start: number; readonly end?: number; readonly span: Span }; // `[3]` or `[0..5]` (end exclusive)
export interface Selector {
  readonly segments: readonly SelectorSeg[];
  readonly span: Span;
}

export type TuneItem =
  | { readonly kind: 'train'; readonly selectors: readonly Selector[]; readonly span: Span }
  | { readonly kind: 'freeze'; readonly selectors: readonly Selector[]; readonly span: Span }
  | {
      readonly kind: 'apply';
      readonly method: Ident;
      readonly args: readonly Arg[];
      readonly selectors: readonly Selector[];
      readonly span: Span;
    }
  /** `optimizer { lr = 1e-2, weight_decay = 0.0, schedule = cosine, warmup = 10 }`: checked by compiler/peft/tune.ts. */
  | { readonly kind: 'optimizer'; readonly entries: readonly ConfigEntry[]; readonly span: Span };

export interface TuneDecl {
  readonly kind: 'tune';
  readonly name: Ident;
  readonly model: Ident;
  readonly items: readonly TuneItem[];
  readonly span: Span;
}

export interface UseDecl {
  readonly kind: 'use';
  /** Each dotted path, e.g. `std.nn` → ['std', 'nn']. */
  readonly paths: readonly { readonly parts: readonly string[]; readonly span: Span }[];
  readonly span: Span;
}

// ---------------------------------------------------------------- PEFT methods written in .mile

/** `Linear(in, out)` after `on`: a site module type and the names bound from each site. */
export interface MethodSite {
  readonly module: Ident;
  readonly bindings: readonly MethodBinding[];
  readonly span: Span;
}

/**
 * One name bound from a site: `in` binds the site's argument (parameter, child) `in` as `in`;
 * `dim = out` binds the site's `dim` as `out`.
 */
export interface MethodBinding {
  /** The argument, parameter or child of the site module. */
  readonly member: Ident;
  /** The name in the method's scope (the same identifier as `member` when not renamed). */
  readonly name: Ident;
  readonly span: Span;
}

/** A parameter the method adds at each site, or once per application when `shared`. */
export interface MethodParamDecl extends ParamDecl {
  readonly shared: boolean;
}

/** `rewrite(x) { … }`: the site's output, in terms of `base(…)` (the original call). */
export interface RewriteDecl {
  readonly kind: 'rewrite';
  /** Names for the tensor inputs of the site's call, in its forward's order. */
  readonly inputs: readonly Ident[];
  readonly body: Block;
  readonly span: Span;
}

/** `hook keys(k) { … }`: replaces the tensor at the site forward's `hook keys(…)` point. */
export interface MethodHookDecl {
  readonly kind: 'hook';
  readonly name: Ident;
  readonly input: Ident;
  readonly body: Block;
  readonly span: Span;
}

export type MethodItem = MethodParamDecl | RewriteDecl | MethodHookDecl;

export interface MethodDecl {
  readonly kind: 'method';
  readonly name: Ident;
  /** Typed options with defaults, as a tune passes them: `lora(r = 8)`. */
  readonly options: readonly ArgDecl[];
  /** One or more site types (`on Linear(in, out) | Conv1D(nx, nf)`). */
  readonly sites: readonly MethodSite[];
  readonly items: readonly MethodItem[];
  readonly span: Span;
}

export type TopDecl = UseDecl | ModuleDecl | ModelDecl | TuneDecl | MethodDecl;

export interface MileFile {
  readonly file: string;
  readonly decls: readonly TopDecl[];
  readonly span: Span;
}
