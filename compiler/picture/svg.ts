/**
 * DOT → SVG with Graphviz compiled to WebAssembly (`@hpcc-js/wasm-graphviz`): the last stage of
 * the model picture. It runs in-process and offline, with no `dot` binary installed; the
 * module (about 1 MB of wasm) is loaded on first use and kept, as a parser is. Why Graphviz
 * and not ELK: docs/pictures.md.
 */
import type { FrontEnd } from '../pipeline.ts';
import { pictureDot } from './dot.ts';
import { modelPicture } from './model-picture.ts';

type GraphvizModule = Awaited<ReturnType<(typeof import('@hpcc-js/wasm-graphviz'))['Graphviz']['load']>>;

let graphviz: Promise<GraphvizModule> | undefined;

/** Graphviz, loaded once per process (the wasm instance holds no state between layouts). */
function loadGraphviz(): Promise<GraphvizModule> {
  graphviz ??= import('@hpcc-js/wasm-graphviz').then((m) => m.Graphviz.load());
  return graphviz;
}

/** Lays out DOT text with `dot` and returns the SVG document. */
export async function renderSvg(dot: string): Promise<string> {
  const gv = await loadGraphviz();
  return gv.dot(dot, 'svg');
}

/**
 * The SVG of a picture's DOT. dot sizes every label with Verdana's metrics (it knows the widths
 * of a few fonts, and of a list of fonts only the first); Verdana is wider than the usual sans
 * fonts, so a viewer without it, given the fallbacks added here, draws text that still fits.
 */
export async function pictureSvg(dot: string): Promise<string> {
  return (await renderSvg(dot)).replace(/font-family="Verdana"/g, 'font-family="Verdana,DejaVu Sans,sans-serif"');
}

/** The picture of a compiled tune (its front end) as an SVG document. */
export function tunePictureSvg(fe: Pick<FrontEnd, 'model' | 'tune'>): Promise<string> {
  return pictureSvg(pictureDot(modelPicture(fe.model, fe.tune)));
}
