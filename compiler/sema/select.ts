/**
 * Selector matching over instance paths. A path is a list of segments: child names and,
 * for repeated children, their indices (`blocks[0].attn.query` = blocks, 0, attn, query).
 */
import type { Selector, SelectorSeg } from '../../grammar/ast.ts';

function segMatches(seg: SelectorSeg, s: string): boolean {
  const isIndex = /^\d+$/.test(s);
  switch (seg.kind) {
    case 'name':
      return !isIndex && seg.name === s;
    case 'alt':
      return !isIndex && seg.names.some((n) => n.name === s);
    case 'star':
      return true;
    case 'range': {
      if (!isIndex) return false;
      const i = Number(s);
      return i >= seg.start && (seg.end === undefined || i < seg.end);
    }
    case 'globstar':
      return false;
  }
}

export function selectorMatches(sel: Selector, path: readonly string[]): boolean {
  const segs = sel.segments;
  const memo = new Map<number, boolean>();
  const go = (i: number, j: number): boolean => {
    const key = i * (path.length + 1) + j;
    const hit = memo.get(key);
    if (hit !== undefined) return hit;
    let r: boolean;
    if (i === segs.length) r = j === path.length;
    else {
      const seg = segs[i]!;
      if (seg.kind === 'globstar') {
        r = go(i + 1, j) || (j < path.length && go(i, j + 1));
      } else {
        r = j < path.length && segMatches(seg, path[j]!) && go(i + 1, j + 1);
      }
    }
    memo.set(key, r);
    return r;
  };
  return go(0, 0);
}

export function selectorText(sel: Selector): string {
  let out = '';
  for (const seg of sel.segments) {
    if (seg.kind === 'range') {
      out += seg.end === undefined ? `[${seg.start}..]` : seg.end === seg.start + 1 ? `[${seg.start}]` : `[${seg.start}..${seg.end}]`;
      continue;
    }
    if (out) out += '.';
    switch (seg.kind) {
      case 'name':
        out += seg.name;
        break;
      case 'star':
        out += '*';
        break;
      case 'globstar':
        out += '**';
        break;
      case 'alt':
        out += `{${seg.names.map((n) => n.name).join(', ')}}`;
        break;
    }
  }
  return out;
}
