/**
 * `milec new method NAME`: the source of a PEFT-method plugin, generated with ts-morph. Pure:
 * returns the text. The skeleton is a working method: a zero-initialised delta added to a
 * Linear layer's output (identity at initialisation), with every section commented.
 */
import type { CodeBlockWriter } from 'ts-morph';
import { newProject, tsMorph } from './ts-morph.ts';
import { KEYWORDS } from '../../grammar/tokens.ts';

/** Why `name` cannot name a new method, or undefined when it can. */
export function checkMethodName(name: string, taken: readonly string[]): string | undefined {
  if (!/^[a-z][a-z0-9_]*$/.test(name)) {
    return `\`${name}\` is not a valid method name: use lowercase letters, digits and _, starting with a letter (e.g. \`my_lora\`)`;
  }
  if ((KEYWORDS as readonly string[]).includes(name)) return `\`${name}\` is a reserved word of the .mile language; choose another name`;
  if (taken.includes(name)) return `\`${name}\` is already a built-in PEFT method; choose another name`;
  return undefined;
}

/** `my_lora` → `myLoraMethod`: the exported constant (a suffix keeps it clear of reserved words). */
export function methodConstName(name: string): string {
  return `${name.replace(/_+([a-z0-9])/g, (_, c: string) => c.toUpperCase()).replace(/_/g, '')}Method`;
}

export interface ScaffoldOptions {
  /** Where the file imports the method interface from: `milec/peft` (package.json `exports`). */
  readonly methodImport: string;
}

export function scaffoldMethod(name: string, opts: ScaffoldOptions): string {
  const constName = methodConstName(name);
  const project = newProject();
  const sf = project.createSourceFile(`/${name}.ts`, '');
  sf.addStatements((w: CodeBlockWriter) => {
    w.writeLine('/**');
    w.writeLine(` * \`${name}\`: a PEFT method plugin for milec (scaffolded by \`milec new method ${name}\`).`);
    w.writeLine(' *');
    w.writeLine(' * As scaffolded it is a working example: a learned delta, initialised to zero, added to the');
    w.writeLine(' * output of a Linear layer,');
    w.writeLine(' *');
    w.writeLine(' *   y = base(x) + scale · delta        delta: f32[out], zeros');
    w.writeLine(' *');
    w.writeLine(' * so the model is unchanged at initialisation and training moves only `delta`. Replace the');
    w.writeLine(' * sections below with your method; docs/peft-methods.md describes the interface.');
    w.writeLine(' *');
    w.writeLine(' * Use it in a tune, and load this file with `--plugin` (check, compile, plan, train, sweep, eval):');
    w.writeLine(' *');
    w.writeLine(` *   tune mine for Model { ${name}(scale = 1.0) on blocks.*.mlp.fc2 }`);
    w.writeLine(' *');
    w.writeLine(` *   milec train model.mile --tune mine --plugin ${name}.ts`);
    w.writeLine(' */');
  });
  sf.addImportDeclaration({ moduleSpecifier: opts.methodImport, namedImports: [{ name: 'PeftMethod', isTypeOnly: true }, 'siteInt'] });
  sf.addVariableStatement({
    isExported: true,
    declarationKind: tsMorph().VariableDeclarationKind.Const,
    declarations: [
      {
        name: constName,
        type: 'PeftMethod',
        initializer: (w: CodeBlockWriter) => {
          w.write('{').newLine();
          w.writeLine('// The name tunes use: `' + name + '(...) on SELECTOR`.');
          w.writeLine(`name: '${name}',`);
          w.writeLine("summary: 'zero-initialised delta added to a Linear output (scaffold example)',");
          w.newLine();
          w.writeLine('// ---- sites: the module types (site types) this method attaches to. A selector that');
          w.writeLine('// matches a site of another type is a located error in the tune.');
          w.writeLine("sites: ['Linear'],");
          w.newLine();
          w.writeLine('// ---- options: the arguments of `' + name + '(...)` in a tune, each typed (int, float or');
          w.writeLine('// bool), with a default, a description and an optional check returning an error message.');
          w.writeLine('options: {');
          w.writeLine('scale: {');
          w.writeLine("type: 'float',");
          w.writeLine('default: 1,');
          w.writeLine("doc: 'multiplies the delta',");
          w.writeLine("check: (v) => (typeof v === 'number' && Number.isFinite(v) ? undefined : 'must be a finite number'),");
          w.writeLine('},');
          w.writeLine('},');
          w.newLine();
          w.writeLine('// ---- params: the parameters added at one site, from its module arguments (a Linear has');
          w.writeLine('// `in` and `out`). They train; a zero init keeps the model unchanged at the start.');
          w.writeLine('// Return a string instead to reject a site with that message.');
          w.writeLine('params(site) {');
          w.writeLine("const out = siteInt(site, 'out');");
          w.writeLine('if (out === undefined) return `\\`${site.path}\\` has no integer \\`out\\` argument`;');
          w.writeLine("return [{ name: 'delta', shape: [out], init: { kind: 'zeros' } }];");
          w.writeLine('},');
          w.newLine();
          w.writeLine('// ---- rewrite: builds the output of one call of the site in IR ops. `base(args)` is the');
          w.writeLine("// original call (or the next method's rewrite when methods stack), `params` holds the");
          w.writeLine('// parameter nodes added above, `options` the resolved options. Gradients come from');
          w.writeLine('// autodiff: only the ops used here need VJP rules, and they all have them.');
          w.writeLine('rewrite({ b, args, base, params, options, origin }) {');
          w.writeLine('const y = base(args);');
          w.writeLine('const delta = b.mul(params.delta!, b.scalar(options.scale as number, origin), origin);');
          w.writeLine('return b.add(y, delta, origin);');
          w.writeLine('},');
          w.write('}');
        },
      },
    ],
  });
  sf.addExportAssignment({ isExportEquals: false, expression: constName });
  sf.formatText({ indentSize: 2, tabSize: 2, convertTabsToSpaces: true });
  const text = sf.getFullText();
  return text.endsWith('\n') ? text : `${text}\n`;
}
