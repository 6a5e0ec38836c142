/** Prints an AST as indented JSON without source spans (they are noise for reading structure). */
import type { MileFile } from '../grammar/ast.ts';

export function printAst(ast: MileFile): string {
  return JSON.stringify(ast, (key, value) => (key === 'span' || key === 'opSpan' ? undefined : value), 2);
}
