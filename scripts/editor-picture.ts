/**
 * Draws `docs/images/editor.png`: what VS Code shows with the `.mile` extension
 * (`editors/vscode/`), without running VS Code (there is none on the machines that build milec).
 *
 * Every colour and every mark comes from the real thing, not from a drawing:
 * - the text is `examples/tiny_classifier.mile` with one module name misspelt;
 * - its tokens come from the extension's TextMate grammar, through `vscode-textmate` as in VS Code;
 * - each token is coloured by the Dark+ theme's rules for its scopes (`DARK_PLUS`, below);
 * - the squiggle and the hover show the diagnostic the compiler reports for that text.
 *
 * Usage: `npx tsx scripts/editor-picture.ts` (writes `docs/images/editor.svg`, then the PNG
 * with `rsvg-convert`).
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { compileFrontEnd } from '../compiler/pipeline.ts';
import type { Diagnostic } from '../core/diagnostic.ts';
import { fileHost } from '../runtime/source-files.ts';
import { type LineToken, tokenizeMile } from '../editors/vscode/syntaxes/tokenize.mts';

const ROOT = join(import.meta.dirname, '..');
const EXAMPLE = 'examples/tiny_classifier.mile';
/** The deliberate mistake: the head's `Linear` misspelt. */
const MISTAKE = { find: /= Linear\(dim, classes\)/, replace: '= Linaer(dim, classes)' };
/** The lines shown: the model and its first tunes. */
const SHOWN_LINES = 36;

/**
 * VS Code's Dark+ theme (`extensions/theme-defaults/themes/dark_plus.json` over `dark_vs.json`):
 * the token-colour rules for the scope families the `.mile` grammar produces, copied by hand.
 */
const DARK_PLUS: readonly { scope: string; foreground: string }[] = [
  { scope: 'comment', foreground: '#6A9955' },
  { scope: 'string', foreground: '#CE9178' },
  { scope: 'constant.character.escape', foreground: '#D7BA7D' },
  { scope: 'constant.numeric', foreground: '#B5CEA8' },
  { scope: 'constant.language', foreground: '#569CD6' },
  { scope: 'keyword', foreground: '#569CD6' },
  { scope: 'keyword.control', foreground: '#C586C0' },
  { scope: 'keyword.operator', foreground: '#D4D4D4' },
  { scope: 'keyword.operator.expression', foreground: '#569CD6' },
  { scope: 'storage', foreground: '#569CD6' },
  { scope: 'storage.type', foreground: '#569CD6' },
  { scope: 'storage.modifier', foreground: '#569CD6' },
  { scope: 'entity.name.function', foreground: '#DCDCAA' },
  { scope: 'support.function', foreground: '#DCDCAA' },
  { scope: 'entity.name.type', foreground: '#4EC9B0' },
  { scope: 'entity.name.namespace', foreground: '#4EC9B0' },
  { scope: 'support.type', foreground: '#4EC9B0' },
  { scope: 'variable', foreground: '#9CDCFE' },
  { scope: 'variable.other.constant', foreground: '#4FC1FF' },
  { scope: 'invalid', foreground: '#F44747' },
  { scope: 'meta.selector', foreground: '#D7BA7D' },
];

/** Dark+ workbench colours used by the frame. */
const UI = {
  editorBackground: '#1E1E1E',
  foreground: '#D4D4D4',
  lineNumber: '#858585',
  activeLineNumber: '#C6C6C6',
  tabBar: '#252526',
  activeTab: '#1E1E1E',
  tabText: '#FFFFFF',
  error: '#F14C4C',
  hoverBackground: '#252526',
  hoverBorder: '#454545',
  hoverMuted: '#9D9D9D',
  link: '#3794FF',
  statusBar: '#007ACC',
  statusText: '#FFFFFF',
};

const FONT = "'DejaVu Sans Mono', monospace";
const FONT_SIZE = 14;
/** DejaVu Sans Mono's advance is 1233/2048 em; each token is placed by column, so the squiggle lines up. */
const CHAR_WIDTH = (FONT_SIZE * 1233) / 2048;
const LINE_HEIGHT = 19;
const TAB_HEIGHT = 35;
const STATUS_HEIGHT = 22;
const GUTTER = 64;
const CODE_LEFT = GUTTER + 18;

/** A segment matches a scope when it is the scope or a dot-separated prefix of it. */
const selectsScope = (selector: string, scope: string) => scope === selector || scope.startsWith(selector + '.');

/** The theme's colour for a token: the innermost scope that any rule selects, by its longest selector (as VS Code ranks them). */
export function colourOf(scopes: readonly string[]): string {
  for (let i = scopes.length - 1; i >= 0; i--) {
    const rules = DARK_PLUS.filter((r) => selectsScope(r.scope, scopes[i]!));
    if (rules.length) return rules.reduce((a, b) => (b.scope.length > a.scope.length ? b : a)).foreground;
  }
  return UI.foreground;
}

const escapeXml = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
const columnX = (col: number) => CODE_LEFT + col * CHAR_WIDTH;
const lineTop = (line: number) => TAB_HEIGHT + 6 + (line - 1) * LINE_HEIGHT;

function codeLine(n: number, tokens: readonly LineToken[], active: boolean): string {
  const baseline = lineTop(n) + 14;
  const number = `<text x="${GUTTER - 8}" y="${baseline}" text-anchor="end" fill="${active ? UI.activeLineNumber : UI.lineNumber}">${n}</text>`;
  const spans = tokens
    .filter((t) => t.text.trim() !== '')
    .map((t) => `<text x="${columnX(t.start).toFixed(2)}" y="${baseline}" fill="${colourOf(t.scopes)}">${escapeXml(t.text)}</text>`);
  return [number, ...spans].join('');
}

/** VS Code's error squiggle: a wave under the span's columns. */
function squiggle(d: Diagnostic): string {
  const y = lineTop(d.span.line) + 17;
  const x0 = columnX(d.span.col - 1);
  const x1 = columnX((d.span.endLine === d.span.line ? d.span.endCol : d.span.col + 1) - 1);
  const points: string[] = [];
  for (let x = x0, up = true; x <= x1 + 0.01; x += 2, up = !up) points.push(`${x.toFixed(2)},${(up ? y - 1.5 : y + 1.5).toFixed(2)}`);
  return `<polyline points="${points.join(' ')}" fill="none" stroke="${UI.error}" stroke-width="1.2"/>`;
}

/**
 * The hover VS Code shows over a diagnostic: the message and `source(code)`, then its related
 * information (`milec lsp` sends the compiler's `help` as one, at the same span), then the action bar.
 */
function hover(d: Diagnostic): string {
  const file = EXAMPLE.split('/').pop()!;
  const message = `${d.message}  `;
  const source = `milec(${d.code})`;
  const related = d.help ? [`${file}(${d.span.line}, ${d.span.col}): help: ${d.help}`] : [];
  const action = 'View Problem (Alt+F8)';
  const size = 13;
  const charWidth = (size * 1233) / 2048;
  const width = Math.max(message.length + source.length, ...related.map((l) => l.length), action.length) * charWidth + 24;
  const messageHeight = (1 + related.length) * 20 + 12;
  const x = columnX(d.span.col - 1) - 4;
  const y = lineTop(d.span.line) + LINE_HEIGHT + 4;
  const row = (i: number) => y + 22 + i * 20;
  return [
    `<rect x="${x}" y="${y}" width="${width.toFixed(1)}" height="${messageHeight + 28}" rx="3" fill="${UI.hoverBackground}" stroke="${UI.hoverBorder}"/>`,
    `<line x1="${x}" y1="${y + messageHeight}" x2="${(x + width).toFixed(1)}" y2="${y + messageHeight}" stroke="${UI.hoverBorder}"/>`,
    `<g font-size="${size}">`,
    `<text x="${x + 12}" y="${row(0)}" fill="${UI.foreground}">${escapeXml(message)}</text>`,
    `<text x="${(x + 12 + message.length * charWidth).toFixed(2)}" y="${row(0)}" fill="${UI.hoverMuted}">${escapeXml(source)}</text>`,
    ...related.map((l, i) => `<text x="${x + 12}" y="${row(1 + i)}" fill="${UI.link}">${escapeXml(l)}</text>`),
    `<text x="${x + 12}" y="${y + messageHeight + 19}" fill="${UI.link}">${escapeXml(action)}</text>`,
    '</g>',
  ].join('\n');
}

function frame(width: number, height: number, errors: number): string {
  const file = EXAMPLE.split('/').pop()!;
  return [
    `<rect width="${width}" height="${height}" fill="${UI.editorBackground}"/>`,
    `<rect width="${width}" height="${TAB_HEIGHT}" fill="${UI.tabBar}"/>`,
    `<rect width="${file.length * 8 + 56}" height="${TAB_HEIGHT}" fill="${UI.activeTab}"/>`,
    `<text x="16" y="22" font-size="13" fill="${UI.error}">${escapeXml(file)}  ${errors}</text>`,
    `<rect y="${height - STATUS_HEIGHT}" width="${width}" height="${STATUS_HEIGHT}" fill="${UI.statusBar}"/>`,
    `<text x="12" y="${height - 6}" font-size="12" fill="${UI.statusText}">⊗ ${errors}  ⚠ 0</text>`,
    `<text x="${width - 12}" y="${height - 6}" font-size="12" text-anchor="end" fill="${UI.statusText}">Spaces: 2   UTF-8   LF   Mile</text>`,
  ].join('\n');
}

/** The example's text with the mistake in it, and the errors the compiler reports in that file. */
function misspeltExample(): { text: string; errors: Diagnostic[] } {
  const original = readFileSync(join(ROOT, EXAMPLE), 'utf8');
  if (!MISTAKE.find.test(original)) throw new Error(`${EXAMPLE} no longer contains ${MISTAKE.find}: update MISTAKE`);
  const text = original.replace(MISTAKE.find, MISTAKE.replace);
  const r = compileFrontEnd({ host: fileHost(ROOT), file: join(ROOT, EXAMPLE), text, training: false });
  const errors = r.diagnostics.filter((d) => d.severity === 'error' && d.span.file.endsWith(EXAMPLE));
  if (errors.length === 0) throw new Error('the compiler reported no error for the misspelt example');
  return { text, errors };
}

export async function editorPicture(): Promise<string> {
  const { text, errors } = misspeltExample();
  const shown = Math.max(SHOWN_LINES, ...errors.map((d) => d.span.line + 5));
  const tokens = (await tokenizeMile(text)).slice(0, shown);
  const lines = text.split('\n').slice(0, shown);
  const width = Math.ceil(CODE_LEFT + Math.max(...lines.map((l) => l.length)) * CHAR_WIDTH + 24);
  const height = lineTop(shown + 1) + 8 + STATUS_HEIGHT;
  const first = errors[0]!;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="${FONT}" font-size="${FONT_SIZE}" xml:space="preserve">`,
    frame(width, height, errors.length),
    ...tokens.map((ts, i) => codeLine(i + 1, ts, i + 1 === first.span.line)),
    ...errors.map(squiggle),
    hover(first),
    '</svg>',
  ].join('\n');
}

async function main(): Promise<void> {
  const svgPath = join(ROOT, 'docs', 'images', 'editor.svg');
  const pngPath = join(ROOT, 'docs', 'images', 'editor.png');
  writeFileSync(svgPath, (await editorPicture()) + '\n');
  execFileSync('rsvg-convert', ['--format', 'png', '--output', pngPath, svgPath]);
  process.stdout.write(`wrote ${svgPath} and ${pngPath}\n`);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await main();
