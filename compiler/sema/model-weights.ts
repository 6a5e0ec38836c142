/**
 * A model's default starting weights: `weights { file = "…", map = "…", prefix = "…" }` blocks
 * in its `model` declaration (one per file). `milec train`, `sweep` and `eval` start from them
 * unless the command line gives `--weights` (or `--weights none` for the random initial values).
 * The compiler checks the block's shape and that `prefix` names a module of the model; the file
 * itself is read by the runtime, relative to the `.mile` file that declares it (the compiler
 * reads no files), and `map` is checked there against the runtime's name mappings.
 */
import type { ConfigEntry, ModelDecl, WeightsDecl } from '../../grammar/ast.ts';
import { CompileError, error, suggestion } from '../../core/diagnostic.ts';
import type { Span } from '../../core/span.ts';
import type { Instance } from './instance.ts';

export interface ModelWeights {
  /** The safetensors file as written, relative to the directory of `span.file`. */
  readonly file: string;
  /** The key-name mapping (`--weights-map`): none, hf-bert, timm-vit, hf-vit, blip. */
  readonly map: string;
  /** The dotted path of the module the file describes; '' for the whole model. */
  readonly prefix: string;
  readonly span: Span;
}

const KEYS = ['file', 'map', 'prefix'];

/** The `weights { ... }` blocks of `decl`, checked against the instance tree `root`. */
export function modelWeights(decl: ModelDecl, root: Instance): ModelWeights[] {
  const out: ModelWeights[] = [];
  for (const item of decl.items) if (item.kind === 'weights') out.push(weightsBlock(item, root));
  return out;
}

function stringValue(e: ConfigEntry, allowName: boolean): string {
  if (e.value.kind === 'string') return e.value.value;
  if (allowName && e.value.kind === 'name') return e.value.name;
  throw new CompileError(error('type', `weights setting \`${e.name.name}\` is a string, e.g. \`${e.name.name} = "…"\``, e.value.span));
}

function weightsBlock(item: WeightsDecl, root: Instance): ModelWeights {
  const seen = new Map<string, ConfigEntry>();
  for (const e of item.entries) {
    const key = e.name.name;
    if (!KEYS.includes(key))
      throw new CompileError(
        error('name', `unknown weights setting \`${key}\` (known: file, map, prefix)`, e.name.span, suggestion(key, KEYS)),
      );
    if (seen.has(key)) throw new CompileError(error('name', `weights setting \`${key}\` is set twice`, e.name.span));
    seen.set(key, e);
  }
  const fileEntry = seen.get('file');
  if (!fileEntry) throw new CompileError(error('name', 'a `weights` block needs `file = "….safetensors"`', item.span));
  const file = stringValue(fileEntry, false);
  if (!file.trim()) throw new CompileError(error('value', 'weights `file` is empty', fileEntry.value.span));
  const map = seen.has('map') ? stringValue(seen.get('map')!, true) : 'none';
  const prefixEntry = seen.get('prefix');
  const prefix = prefixEntry ? stringValue(prefixEntry, false) : '';
  if (prefixEntry && prefix && !findModule(root, prefix)) {
    const names = [...root.children.keys()];
    throw new CompileError(
      error('name', `weights \`prefix\`: the model has no module \`${prefix}\``, prefixEntry.value.span, suggestion(prefix, names)),
    );
  }
  return { file, map, prefix, span: item.span };
}

/** The instance at a dotted path (`text_encoder.encoder.layer.0`), if any. */
function findModule(root: Instance, dotted: string): Instance | undefined {
  let at: Instance | Instance[] | undefined = root;
  for (const seg of dotted.split('.')) {
    if (at === undefined) return undefined;
    at = Array.isArray(at) ? at[Number(seg)] : at.children.get(seg);
  }
  return Array.isArray(at) ? undefined : at;
}
