/** Deterministic text form of the IR, used by `milec compile --emit ir|grad` and golden tests. */
import { shapeToString } from '../../core/dim.ts';
import type { Graph, Node } from './graph.ts';

function attrText(n: Node): string {
  const a = n.attrs as Record<string, unknown>;
  const parts: string[] = [];
  for (const [k, v] of Object.entries(a)) {
    if (n.op === 'param' || n.op === 'input') continue;
    if (typeof v === 'boolean') {
      if (v) parts.push(k);
    } else if (Array.isArray(v)) {
      parts.push(`${k}=${JSON.stringify(v).replace(/"/g, '')}`);
    } else parts.push(`${k}=${typeof v === 'object' ? JSON.stringify(v) : String(v)}`);
  }
  return parts.length ? ` {${parts.join(', ')}}` : '';
}

export function printNode(n: Node): string {
  const name = n.op === 'param' || n.op === 'input' ? ` ${(n.attrs as { name: string }).name}` : '';
  const args = n.src.map((s) => `%${s}`).join(', ');
  const where = n.origin.line > 0 ? `  # ${n.origin.file}:${n.origin.line}:${n.origin.col}` : '';
  return `%${n.id} = ${n.op}${name}(${args})${attrText(n)} : ${n.dtype}${shapeToString(n.shape)}${where}`;
}

export function printGraph(g: Graph): string {
  const lines: string[] = [];
  for (const p of g.params)
    lines.push(
      `param ${p.name}: f32${shapeToString(p.shape)} = %${p.node} ${p.trainable ? 'trainable' : 'frozen'}${p.addedBy ? ` (${p.addedBy})` : ''}`,
    );
  for (const i of g.inputs) lines.push(`input ${i.name}: ${i.dtype}${shapeToString(i.shape)} = %${i.node}`);
  lines.push('');
  for (const n of g.nodes) lines.push(printNode(n));
  lines.push('');
  for (const [k, v] of Object.entries(g.outputs)) lines.push(`output ${k} = %${v}`);
  for (const [k, v] of Object.entries(g.grads)) lines.push(`grad ${k} = %${v}`);
  return lines.join('\n');
}
