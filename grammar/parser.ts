/**
 * The `.mile` grammar as a pure chevrotain `CstParser`: no actions, only structure.
 * `to-ast.ts` turns the CST into the AST; `parse.ts` wires lexer, parser and diagnostics.
 *
 * Rule names matter: `parse.ts` words its error messages by the rule an error happened in.
 */
import type { IParserErrorMessageProvider, TokenType } from 'chevrotain';
import { CstParser, tokenMatcher } from './chevrotain.ts';
import * as T from './tokens.ts';

export class MileParser extends CstParser {
  constructor(errorMessageProvider?: IParserErrorMessageProvider) {
    super(T.allTokens, { recoveryEnabled: true, maxLookahead: 3, ...(errorMessageProvider ? { errorMessageProvider } : {}) });
    this.performSelfAnalysis();
  }

  /**
   * Recovery by inserting a missing token is tried before deleting a stray one; prefer deletion when
   * the token after the stray one is exactly what was expected (`{ x y }`-like slips), since inserting
   * a closer there re-parses the rest of the block as outer items and cascades.
   */
  protected override canTokenTypeBeInsertedInRecovery(tokType: TokenType): boolean {
    return !tokenMatcher(this.LA(2), tokType);
  }

  // ---------------------------------------------------------------- file and declarations

  public file = this.RULE('file', () => {
    this.MANY(() => this.SUBRULE(this.topDecl));
  });

  public topDecl = this.RULE('topDecl', () => {
    this.OR([
      { ALT: () => this.SUBRULE(this.useDecl) },
      { ALT: () => this.SUBRULE(this.moduleDecl) },
      { ALT: () => this.SUBRULE(this.modelDecl) },
      { ALT: () => this.SUBRULE(this.tuneDecl) },
      { ALT: () => this.SUBRULE(this.methodDecl) },
    ]);
  });

  public useDecl = this.RULE('useDecl', () => {
    this.CONSUME(T.Use);
    this.AT_LEAST_ONE_SEP({ SEP: T.Comma, DEF: () => this.SUBRULE(this.modulePath) });
  });

  public modulePath = this.RULE('modulePath', () => {
    this.CONSUME(T.Identifier, { LABEL: 'part' });
    this.MANY(() => {
      this.CONSUME(T.Dot);
      this.CONSUME2(T.Identifier, { LABEL: 'part' });
    });
  });

  public moduleDecl = this.RULE('moduleDecl', () => {
    this.CONSUME(T.Module);
    this.CONSUME(T.Name, { LABEL: 'name' });
    this.OPTION(() => this.SUBRULE(this.moduleParams));
    this.CONSUME(T.LBrace);
    this.MANY(() => this.SUBRULE(this.moduleItem));
    this.CONSUME(T.RBrace);
  });

  public moduleParams = this.RULE('moduleParams', () => {
    this.CONSUME(T.LParen);
    this.MANY_SEP({ SEP: T.Comma, DEF: () => this.SUBRULE(this.moduleParam) });
    this.CONSUME(T.RParen);
  });

  public moduleParam = this.RULE('moduleParam', () => {
    this.CONSUME(T.Name, { LABEL: 'name' });
    this.CONSUME(T.Colon);
    this.SUBRULE(this.scalarType);
    this.OPTION(() => {
      this.CONSUME(T.Equals);
      this.SUBRULE(this.expression, { LABEL: 'default' });
    });
  });

  public scalarType = this.RULE('scalarType', () => {
    this.OR([{ ALT: () => this.CONSUME(T.Int) }, { ALT: () => this.CONSUME(T.Float) }, { ALT: () => this.CONSUME(T.Bool) }]);
  });

  public moduleItem = this.RULE('moduleItem', () => {
    this.OR([
      { ALT: () => this.SUBRULE(this.paramDecl) },
      { ALT: () => this.SUBRULE(this.childDecl) },
      { ALT: () => this.SUBRULE(this.forwardDecl) },
    ]);
  });

  public paramDecl = this.RULE('paramDecl', () => {
    this.CONSUME(T.Param);
    this.CONSUME(T.Name, { LABEL: 'name' });
    this.CONSUME(T.Colon);
    this.SUBRULE(this.tensorType);
    this.OPTION(() => {
      this.CONSUME(T.Equals);
      this.SUBRULE(this.initCall);
    });
    this.OPTION2(() => {
      this.CONSUME(T.If);
      this.SUBRULE(this.expression, { LABEL: 'condition' });
    });
  });

  public initCall = this.RULE('initCall', () => {
    this.CONSUME(T.Identifier, { LABEL: 'name' });
    this.OPTION(() => this.SUBRULE(this.argList));
  });

  /** `name = Module(args)`, `name = repeat N Module(args)`, either with a trailing `if cond`. */
  public childDecl = this.RULE('childDecl', () => {
    this.CONSUME(T.Identifier, { LABEL: 'name' });
    this.CONSUME(T.Equals);
    this.OR([
      {
        ALT: () => {
          this.CONSUME(T.Repeat);
          this.SUBRULE(this.expression, { LABEL: 'count' });
          this.OPTION(() => this.SUBRULE(this.moduleCall));
        },
      },
      { ALT: () => this.SUBRULE2(this.moduleCall) },
    ]);
    this.OPTION2(() => {
      this.CONSUME(T.If);
      this.SUBRULE2(this.expression, { LABEL: 'condition' });
    });
  });

  public moduleCall = this.RULE('moduleCall', () => {
    this.CONSUME(T.Identifier, { LABEL: 'part' });
    this.MANY(() => {
      this.CONSUME(T.Dot);
      this.CONSUME2(T.Identifier, { LABEL: 'part' });
    });
    this.SUBRULE(this.argList);
  });

  public forwardDecl = this.RULE('forwardDecl', () => {
    this.CONSUME(T.Forward);
    this.OPTION(() => this.SUBRULE(this.forwardParams));
    this.OPTION2(() => {
      this.CONSUME(T.Arrow);
      this.SUBRULE(this.tensorType, { LABEL: 'returns' });
    });
    this.SUBRULE(this.block);
  });

  public forwardParams = this.RULE('forwardParams', () => {
    this.CONSUME(T.LParen);
    this.MANY_SEP({ SEP: T.Comma, DEF: () => this.SUBRULE(this.forwardParam) });
    this.CONSUME(T.RParen);
  });

  public forwardParam = this.RULE('forwardParam', () => {
    this.CONSUME(T.Name, { LABEL: 'name' });
    this.OPTION(() => {
      this.CONSUME(T.Colon);
      this.SUBRULE(this.tensorType);
    });
    this.OPTION2(() => {
      this.CONSUME(T.Equals);
      this.SUBRULE(this.expression, { LABEL: 'default' });
    });
  });

  public modelDecl = this.RULE('modelDecl', () => {
    this.CONSUME(T.Model);
    this.CONSUME(T.Name, { LABEL: 'name' });
    this.CONSUME(T.LBrace);
    this.MANY(() => this.SUBRULE(this.modelItem));
    this.CONSUME(T.RBrace);
  });

  public modelItem = this.RULE('modelItem', () => {
    this.OR([
      { ALT: () => this.SUBRULE(this.configDecl) },
      { ALT: () => this.SUBRULE(this.inputDecl) },
      { ALT: () => this.SUBRULE(this.paramDecl) },
      { ALT: () => this.SUBRULE(this.childDecl) },
      { ALT: () => this.SUBRULE(this.forwardDecl) },
      { ALT: () => this.SUBRULE(this.weightsDecl) },
    ]);
  });

  /**
   * `weights { file = "pretrained.safetensors", map = "none", prefix = "text_encoder" }`: the
   * model's default starting weights. Any word before `{` parses here (the AST accepts only
   * `weights`, with a did-you-mean), as the tune's `optimizer { ... }`.
   */
  public weightsDecl = this.RULE('weightsDecl', () => {
    this.CONSUME(T.Identifier, { LABEL: 'word' });
    this.CONSUME(T.LBrace);
    this.MANY(() => {
      this.SUBRULE(this.configEntry);
      this.OPTION(() => this.CONSUME(T.Comma));
    });
    this.CONSUME(T.RBrace);
  });

  /** Entries separated by commas or newlines (newlines are whitespace, so the comma is optional). */
  public configDecl = this.RULE('configDecl', () => {
    this.CONSUME(T.Config);
    this.CONSUME(T.LBrace);
    this.MANY(() => {
      this.SUBRULE(this.configEntry);
      this.OPTION(() => this.CONSUME(T.Comma));
    });
    this.CONSUME(T.RBrace);
  });

  public configEntry = this.RULE('configEntry', () => {
    this.CONSUME(T.Name, { LABEL: 'name' });
    this.CONSUME(T.Equals);
    this.SUBRULE(this.expression, { LABEL: 'value' });
  });

  public inputDecl = this.RULE('inputDecl', () => {
    this.CONSUME(T.Input);
    this.CONSUME(T.Name, { LABEL: 'name' });
    this.CONSUME(T.Colon);
    this.SUBRULE(this.tensorType);
  });

  // ---------------------------------------------------------------- tunes and selectors

  public tuneDecl = this.RULE('tuneDecl', () => {
    this.CONSUME(T.Tune);
    this.CONSUME(T.Name, { LABEL: 'name' });
    this.CONSUME(T.For);
    this.CONSUME2(T.Name, { LABEL: 'model' });
    this.CONSUME(T.LBrace);
    this.MANY(() => this.SUBRULE(this.tuneItem));
    this.CONSUME(T.RBrace);
  });

  public tuneItem = this.RULE('tuneItem', () => {
    this.OR([
      {
        ALT: () => {
          this.CONSUME(T.Train);
          this.SUBRULE(this.selectorList);
        },
      },
      {
        ALT: () => {
          this.CONSUME(T.Freeze);
          this.SUBRULE2(this.selectorList);
        },
      },
      {
        ALT: () => {
          this.CONSUME(T.Identifier, { LABEL: 'method' });
          // `optimizer { lr = 1e-2, schedule = cosine }`: the tune's training settings (any word
          // before `{` parses here; the AST accepts only `optimizer`). Not an alternative of its
          // own, so that `lora on x` still reads as a method missing its `(`.
          let block = false;
          this.OPTION(() => {
            this.CONSUME(T.LBrace);
            this.MANY(() => {
              this.SUBRULE(this.configEntry);
              this.OPTION2(() => this.CONSUME(T.Comma));
            });
            this.CONSUME(T.RBrace);
            block = true;
          });
          if (this.RECORDING_PHASE || !block) {
            this.SUBRULE(this.argList);
            this.CONSUME(T.On);
            this.SUBRULE3(this.selectorList);
          }
        },
      },
    ]);
  });

  public selectorList = this.RULE('selectorList', () => {
    this.AT_LEAST_ONE_SEP({ SEP: T.Comma, DEF: () => this.SUBRULE(this.selector) });
  });

  public selector = this.RULE('selector', () => {
    this.SUBRULE(this.selectorSeg);
    this.MANY(() => {
      this.CONSUME(T.Dot);
      this.SUBRULE2(this.selectorSeg);
    });
  });

  /** One path segment, optionally followed by an index or range: `blocks[0..2]`. */
  public selectorSeg = this.RULE('selectorSeg', () => {
    this.OR([
      { ALT: () => this.CONSUME(T.Name, { LABEL: 'name' }) },
      { ALT: () => this.CONSUME(T.GlobStar) },
      { ALT: () => this.CONSUME(T.Star) },
      { ALT: () => this.SUBRULE(this.selectorAlt) },
    ]);
    this.OPTION(() => this.SUBRULE(this.selectorRange));
  });

  public selectorAlt = this.RULE('selectorAlt', () => {
    this.CONSUME(T.LBrace);
    this.AT_LEAST_ONE_SEP({ SEP: T.Comma, DEF: () => this.CONSUME(T.Name, { LABEL: 'name' }) });
    this.CONSUME(T.RBrace);
  });

  public selectorRange = this.RULE('selectorRange', () => {
    this.CONSUME(T.LBracket);
    this.CONSUME(T.NumberLit, { LABEL: 'start' });
    this.OPTION(() => {
      this.CONSUME(T.DotDot);
      this.OPTION2(() => this.CONSUME2(T.NumberLit, { LABEL: 'end' }));
    });
    this.CONSUME(T.RBracket);
  });

  // ---------------------------------------------------------------- PEFT methods

  /** `method NAME(OPTIONS) on Site(bindings) | Site2(bindings) { ITEM* }` */
  public methodDecl = this.RULE('methodDecl', () => {
    this.CONSUME(T.Method);
    this.CONSUME(T.Name, { LABEL: 'name' });
    this.OPTION(() => this.SUBRULE(this.methodOptions));
    this.CONSUME(T.On);
    this.AT_LEAST_ONE_SEP({ SEP: T.Pipe, DEF: () => this.SUBRULE(this.methodSite) });
    this.CONSUME(T.LBrace);
    this.MANY(() => this.SUBRULE(this.methodItem));
    this.CONSUME(T.RBrace);
  });

  public methodOptions = this.RULE('methodOptions', () => {
    this.CONSUME(T.LParen);
    this.MANY_SEP({ SEP: T.Comma, DEF: () => this.SUBRULE(this.methodOption) });
    this.CONSUME(T.RParen);
  });

  /** `r: int = 8`: same form as a module argument. */
  public methodOption = this.RULE('methodOption', () => {
    this.CONSUME(T.Name, { LABEL: 'name' });
    this.CONSUME(T.Colon);
    this.SUBRULE(this.scalarType);
    this.OPTION(() => {
      this.CONSUME(T.Equals);
      this.SUBRULE(this.expression, { LABEL: 'default' });
    });
  });

  /** `Linear(in, out)`: a site module type and the names bound from the site. */
  public methodSite = this.RULE('methodSite', () => {
    this.CONSUME(T.Identifier, { LABEL: 'module' });
    this.OPTION(() => {
      this.CONSUME(T.LParen);
      this.MANY_SEP({ SEP: T.Comma, DEF: () => this.SUBRULE(this.methodBinding) });
      this.CONSUME(T.RParen);
    });
  });

  /** `in`, or `dim = out` (the site's `dim`, named `out` in the method). */
  public methodBinding = this.RULE('methodBinding', () => {
    this.CONSUME(T.Name, { LABEL: 'member' });
    this.OPTION(() => {
      this.CONSUME(T.Equals);
      this.CONSUME2(T.Name, { LABEL: 'name' });
    });
  });

  /** `param …`, `shared param …`, `rewrite(x) { … }`, `hook NAME(h) { … }`. `shared`, `rewrite` are soft keywords. */
  public methodItem = this.RULE('methodItem', () => {
    this.OR([
      { ALT: () => this.SUBRULE(this.paramDecl) },
      {
        GATE: () => this.LA(1).image === 'shared',
        ALT: () => {
          this.CONSUME(T.Identifier, { LABEL: 'sharedKeyword' });
          this.SUBRULE2(this.paramDecl);
        },
      },
      { GATE: () => this.LA(1).image === 'rewrite', ALT: () => this.SUBRULE(this.rewriteDecl) },
      { ALT: () => this.SUBRULE(this.methodHook) },
    ]);
  });

  public rewriteDecl = this.RULE('rewriteDecl', () => {
    this.CONSUME(T.Identifier, { LABEL: 'rewriteKeyword' });
    this.CONSUME(T.LParen);
    this.MANY_SEP({ SEP: T.Comma, DEF: () => this.CONSUME(T.Name, { LABEL: 'input' }) });
    this.CONSUME(T.RParen);
    this.SUBRULE(this.rewriteBody);
  });

  public methodHook = this.RULE('methodHook', () => {
    this.CONSUME(T.Hook);
    this.CONSUME(T.Identifier, { LABEL: 'hookName' });
    this.CONSUME(T.LParen);
    this.CONSUME(T.Name, { LABEL: 'input' });
    this.CONSUME(T.RParen);
    this.SUBRULE(this.hookBody);
  });

  /** Blocks with their own rule names, so that errors can say which body they are in. */
  public rewriteBody = this.blockRule('rewriteBody');
  public hookBody = this.blockRule('hookBody');

  // ---------------------------------------------------------------- types

  public tensorType = this.RULE('tensorType', () => {
    this.SUBRULE(this.dtype);
    this.CONSUME(T.LBracket);
    this.MANY_SEP({ SEP: T.Comma, DEF: () => this.SUBRULE(this.dim) });
    this.CONSUME(T.RBracket);
  });

  public dtype = this.RULE('dtype', () => {
    this.OR([{ ALT: () => this.CONSUME(T.F32) }, { ALT: () => this.CONSUME(T.I32) }]);
  });

  public dim = this.RULE('dim', () => {
    this.OR([{ ALT: () => this.CONSUME(T.Ellipsis) }, { ALT: () => this.SUBRULE(this.expression) }]);
  });

  // ---------------------------------------------------------------- blocks and statements

  /**
   * `{ stmt* expr? }` with optional `;` anywhere. The grammar takes statements and expressions in
   * any order; `to-ast.ts` reports an expression that is not last. That gives a precise message
   * for `{ x y }` instead of the cascade a stricter rule recovers into.
   */
  public block = this.RULE('block', () => {
    this.CONSUME(T.LBrace);
    this.MANY(() => {
      this.OR([
        { ALT: () => this.SUBRULE(this.statement) },
        { ALT: () => this.CONSUME(T.Semicolon) },
        { ALT: () => this.SUBRULE(this.expression, { LABEL: 'expr' }) },
      ]);
    });
    this.CONSUME(T.RBrace);
  });

  /** A rule with the same shape as `block` (see there), under another name. */
  private blockRule(name: string) {
    return this.RULE(name, () => {
      this.CONSUME(T.LBrace);
      this.MANY(() => {
        this.OR([
          { ALT: () => this.SUBRULE(this.statement) },
          { ALT: () => this.CONSUME(T.Semicolon) },
          { ALT: () => this.SUBRULE(this.expression, { LABEL: 'expr' }) },
        ]);
      });
      this.CONSUME(T.RBrace);
    });
  }

  public statement = this.RULE('statement', () => {
    this.OR([
      { ALT: () => this.SUBRULE(this.letStmt) },
      { ALT: () => this.SUBRULE(this.lossStmt) },
      {
        // `output` is a soft keyword: a statement only as `output NAME = …`, so that
        // `output` stays usable as a name (BERT's `attention.output.dense`).
        GATE: () => this.LA(1).image === 'output' && tokenMatcher(this.LA(2), T.Name) && tokenMatcher(this.LA(3), T.Equals),
        ALT: () => this.SUBRULE(this.outputStmt),
      },
    ]);
  });

  public letStmt = this.RULE('letStmt', () => {
    this.CONSUME(T.Let);
    this.CONSUME(T.Name, { LABEL: 'name' });
    this.CONSUME(T.Equals);
    this.SUBRULE(this.expression, { LABEL: 'value' });
  });

  public lossStmt = this.RULE('lossStmt', () => {
    this.CONSUME(T.Loss);
    this.SUBRULE(this.expression, { LABEL: 'value' });
  });

  public outputStmt = this.RULE('outputStmt', () => {
    this.CONSUME(T.Identifier, { LABEL: 'outputKeyword' });
    this.CONSUME(T.Name, { LABEL: 'name' });
    this.CONSUME(T.Equals);
    this.SUBRULE(this.expression, { LABEL: 'value' });
  });

  // ---------------------------------------------------------------- expressions, lowest precedence first

  public expression = this.RULE('expression', () => {
    this.SUBRULE(this.orExpr);
  });

  public orExpr = this.RULE('orExpr', () => {
    this.SUBRULE(this.andExpr, { LABEL: 'operand' });
    this.MANY(() => {
      this.CONSUME(T.Or, { LABEL: 'op' });
      this.SUBRULE2(this.andExpr, { LABEL: 'operand' });
    });
  });

  public andExpr = this.RULE('andExpr', () => {
    this.SUBRULE(this.notExpr, { LABEL: 'operand' });
    this.MANY(() => {
      this.CONSUME(T.And, { LABEL: 'op' });
      this.SUBRULE2(this.notExpr, { LABEL: 'operand' });
    });
  });

  public notExpr = this.RULE('notExpr', () => {
    this.OR([
      {
        ALT: () => {
          this.CONSUME(T.Not, { LABEL: 'op' });
          this.SUBRULE(this.notExpr, { LABEL: 'operand' });
        },
      },
      { ALT: () => this.SUBRULE(this.comparison, { LABEL: 'operand' }) },
    ]);
  });

  /** Non-associative: `a < b < c` is an error. */
  public comparison = this.RULE('comparison', () => {
    this.SUBRULE(this.additive, { LABEL: 'operand' });
    this.OPTION(() => {
      this.CONSUME(T.CmpOp, { LABEL: 'op' });
      this.SUBRULE2(this.additive, { LABEL: 'operand' });
    });
  });

  public additive = this.RULE('additive', () => {
    this.SUBRULE(this.multiplicative, { LABEL: 'operand' });
    this.MANY(() => {
      this.CONSUME(T.AddOp, { LABEL: 'op' });
      this.SUBRULE2(this.multiplicative, { LABEL: 'operand' });
    });
  });

  public multiplicative = this.RULE('multiplicative', () => {
    this.SUBRULE(this.unary, { LABEL: 'operand' });
    this.MANY(() => {
      this.CONSUME(T.MulOp, { LABEL: 'op' });
      this.SUBRULE2(this.unary, { LABEL: 'operand' });
    });
  });

  public unary = this.RULE('unary', () => {
    this.OR([
      {
        ALT: () => {
          this.CONSUME(T.Minus, { LABEL: 'op' });
          this.SUBRULE(this.unary, { LABEL: 'operand' });
        },
      },
      { ALT: () => this.SUBRULE(this.postfix, { LABEL: 'operand' }) },
    ]);
  });

  public postfix = this.RULE('postfix', () => {
    this.SUBRULE(this.primary);
    this.MANY(() => this.SUBRULE(this.postfixOp, { LABEL: 'suffix' }));
  });

  public postfixOp = this.RULE('postfixOp', () => {
    this.OR([
      { ALT: () => this.SUBRULE(this.argList) },
      { ALT: () => this.SUBRULE(this.indexSuffix) },
      {
        ALT: () => {
          this.CONSUME(T.Dot);
          this.CONSUME(T.Name, { LABEL: 'member' });
        },
      },
      { ALT: () => this.CONSUME(T.Transpose) },
      {
        // Error production: `^` not glued to `T`. Swallows one operand so `x ^ 2` is one error.
        ALT: () => {
          this.CONSUME(T.Caret);
          this.OPTION(() => {
            this.OR2([
              { ALT: () => this.CONSUME(T.NumberLit, { LABEL: 'caretArg' }) },
              { ALT: () => this.CONSUME(T.Identifier, { LABEL: 'caretArg' }) },
            ]);
          });
        },
      },
    ]);
  });

  /** `(args)`: used by calls, initializers, child modules and tune methods. */
  public argList = this.RULE('argList', () => {
    this.CONSUME(T.LParen);
    this.MANY_SEP({ SEP: T.Comma, DEF: () => this.SUBRULE(this.arg) });
    this.CONSUME(T.RParen);
  });

  public arg = this.RULE('arg', () => {
    this.OR({
      IGNORE_AMBIGUITIES: true,
      DEF: [
        {
          GATE: () => this.LA(2).tokenType === T.Equals,
          ALT: () => {
            this.CONSUME(T.Name, { LABEL: 'name' });
            this.CONSUME(T.Equals);
            this.SUBRULE(this.expression, { LABEL: 'value' });
          },
        },
        { ALT: () => this.SUBRULE2(this.expression, { LABEL: 'value' }) },
      ],
    });
  });

  public indexSuffix = this.RULE('indexSuffix', () => {
    this.CONSUME(T.LBracket);
    this.AT_LEAST_ONE_SEP({ SEP: T.Comma, DEF: () => this.SUBRULE(this.indexItem) });
    this.CONSUME(T.RBracket);
  });

  /** `...`, `e`, or a slice `start:stop:step` with every part optional. */
  public indexItem = this.RULE('indexItem', () => {
    this.OR([
      { ALT: () => this.CONSUME(T.Ellipsis) },
      {
        ALT: () => {
          this.SUBRULE(this.expression, { LABEL: 'start' });
          this.OPTION(() => this.SUBRULE(this.sliceRest));
        },
      },
      { ALT: () => this.SUBRULE2(this.sliceRest) },
    ]);
  });

  public sliceRest = this.RULE('sliceRest', () => {
    this.CONSUME(T.Colon, { LABEL: 'colon' });
    this.OPTION(() => this.SUBRULE(this.expression, { LABEL: 'stop' }));
    this.OPTION2(() => {
      this.CONSUME2(T.Colon, { LABEL: 'colon' });
      this.OPTION3(() => this.SUBRULE2(this.expression, { LABEL: 'step' }));
    });
  });

  public primary = this.RULE('primary', () => {
    this.OR([
      { ALT: () => this.CONSUME(T.NumberLit) },
      { ALT: () => this.CONSUME(T.BadNumber) },
      { ALT: () => this.CONSUME(T.StringLit) },
      { ALT: () => this.CONSUME(T.UnterminatedString) },
      { ALT: () => this.CONSUME(T.True) },
      { ALT: () => this.CONSUME(T.False) },
      { ALT: () => this.CONSUME(T.None) },
      { ALT: () => this.CONSUME(T.Identifier) },
      { ALT: () => this.SUBRULE(this.hookExpr) },
      { ALT: () => this.SUBRULE(this.parenExpr) },
      { ALT: () => this.SUBRULE(this.listExpr) },
    ]);
  });

  /** `hook keys(k)`: a named point inside a forward where a PEFT method may intervene. */
  public hookExpr = this.RULE('hookExpr', () => {
    this.CONSUME(T.Hook);
    this.CONSUME(T.Identifier, { LABEL: 'hookName' });
    this.CONSUME(T.LParen);
    this.SUBRULE(this.expression, { LABEL: 'value' });
    this.CONSUME(T.RParen);
  });

  public parenExpr = this.RULE('parenExpr', () => {
    this.CONSUME(T.LParen);
    this.SUBRULE(this.expression);
    this.CONSUME(T.RParen);
  });

  public listExpr = this.RULE('listExpr', () => {
    this.CONSUME(T.LBracket);
    this.MANY_SEP({ SEP: T.Comma, DEF: () => this.SUBRULE(this.expression, { LABEL: 'item' }) });
    this.CONSUME(T.RBracket);
  });
}
