/**
 * `ModelPicture` → Graphviz DOT: the second stage of the model picture, and what
 * `milec compile --emit graph` prints (`dot -Tsvg` draws it; `./svg.ts` draws it in-process).
 *
 * A module with children is a cluster (nested boxes show nesting; no edges are drawn), a module
 * without children is a box. The top-level modules stand side by side as columns; inside a
 * module, its heading comes first, then its parts top to bottom in declaration order, small
 * ones packed side by side into rows (`ROW_WIDTH`) so the picture grows downwards, not
 * sideways. Graphviz's `osage` layout packs each cluster on its own in that order
 * (`packmode="array_tlu<columns>"`, `sortv`): no global ranks, so a tall column leaves no gaps
 * in the one beside it (docs/pictures.md).
 *
 * Colours: frozen grey, trained solid blue, partly trained white; a PEFT site is tinted and
 * outlined in its method's colour and names the method, its options and the parameters it
 * adds. Every element carries SVG classes (`module`, `frozen`/`trained`/`partial`/`empty`,
 * `repeat`, `peft`, `peft-<method>`, `legend`), and its DOT name is the module's path
 * (`cluster_<path>` for a cluster), which Graphviz writes as the `<title>` of its SVG group:
 * tests and stylesheets find modules by those.
 */
import {
  type ModelPicture,
  type PictureModule,
  type PictureShared,
  type PictureSite,
  siteOptionsText,
  stateOf,
  type TrainState,
} from './model-picture.ts';

/** Colours of the built-in methods; a plugin's method takes the next of `EXTRA_COLOURS`. */
const METHOD_COLOURS: Readonly<Record<string, string>> = {
  lora: '#e8710a',
  dora: '#c2185b',
  ia3: '#2e7d32',
  prefix: '#7b1fa2',
  ptv2: '#5e35b1',
  prompt: '#00838f',
  adapter: '#a05a00',
  ln_tuning: '#6d4c41',
};
const EXTRA_COLOURS = ['#d81b60', '#1e88e5', '#43a047', '#fb8c00', '#8e24aa', '#00897b'];

const STATE_STYLE: Readonly<Record<TrainState, { fill: string; line: string; text: string; sub: string; name: string }>> = {
  frozen: { fill: '#e4e4e4', line: '#9e9e9e', text: '#424242', sub: '#757575', name: 'frozen' },
  trained: { fill: '#1f5fa8', line: '#174a85', text: '#ffffff', sub: '#dbe7f5', name: 'trained in full' },
  partial: { fill: '#ffffff', line: '#616161', text: '#212121', sub: '#616161', name: 'partly trained' },
  empty: { fill: '#ffffff', line: '#bdbdbd', text: '#757575', sub: '#9e9e9e', name: 'no parameters' },
};
/** Cluster backgrounds: paler than boxes, so the boxes inside stay readable. */
const CLUSTER_FILL: Readonly<Record<TrainState, string>> = { frozen: '#f3f3f3', trained: '#dde8f6', partial: '#ffffff', empty: '#ffffff' };

/** How many boxes side by side a row inside a module holds (a cluster of boxes counts its boxes, plus a margin). */
const ROW_WIDTH = 4;

/** The colour of each method of the picture, built-ins by name, others in order. */
export function methodColours(methods: readonly string[]): Map<string, string> {
  const out = new Map<string, string>();
  let extra = 0;
  for (const m of methods) out.set(m, METHOD_COLOURS[m] ?? EXTRA_COLOURS[extra++ % EXTRA_COLOURS.length]!);
  return out;
}

const int = (n: number) => n.toLocaleString('en-US');
const html = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
const quote = (s: string) => `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
/** A pale tint of a `#rrggbb` colour (mixed with white). */
function tint(colour: string, keep = 0.18): string {
  const c = [1, 3, 5].map((i) => parseInt(colour.slice(i, i + 2), 16));
  return `#${c
    .map((v) =>
      Math.round(255 - (255 - v) * keep)
        .toString(16)
        .padStart(2, '0'),
    )
    .join('')}`;
}
const font = (text: string, colour: string, size?: number) =>
  `<FONT COLOR="${colour}"${size ? ` POINT-SIZE="${size}"` : ''}>${text}</FONT>`;

/** What is drawn in one place of the layout: a box or a cluster. */
interface Placed {
  /** Its DOT statements, given its place among its siblings (osage's `sortv`). */
  readonly lines: (order: number) => readonly string[];
  /** Leaf-box widths it takes in a row (`ROW_WIDTH`); Infinity: a row of its own. */
  readonly width: number;
}

class DotWriter {
  private readonly colours: Map<string, string>;

  constructor(private readonly picture: ModelPicture) {
    this.colours = methodColours(picture.methods);
  }

  colour(method: string): string {
    let c = this.colours.get(method);
    if (!c) this.colours.set(method, (c = methodColours([...this.colours.keys(), method]).get(method)!));
    return c;
  }

  /** A module: a box without children, else a cluster of its parts in rows. */
  module(m: PictureModule): Placed {
    if (m.children.length === 0) return this.box(m.id, this.boxLabel(m), m.state, m.sites, m.count);
    // osage sizes a cluster by what it holds, not by its label: the heading is a box of its own.
    const parts: Placed[] = [this.heading(m)];
    if (m.own.params) parts.push(this.ownParams(m, m.id));
    for (const c of m.children) parts.push(this.module(c));
    const rows = packRows(parts);
    const flat = m.children.every((c) => c.children.length === 0);
    return {
      lines: (order) => [
        `subgraph ${quote(`cluster_${m.id}`)} {`,
        ...[...this.clusterAttrs(m), `sortv=${order}`].map((a) => `  ${a};`),
        ...arrange(rows, m.id, 'column').map((l) => `  ${l}`),
        '}',
      ],
      width: flat && rows.length === 2 ? rows[1]!.reduce((a, p) => a + p.width, 0) + 0.5 : Infinity,
    };
  }

  /** A module's name, type, counts and PEFT methods, at the top of its cluster. */
  private heading(m: PictureModule): Placed {
    const lines = [
      `${font(`<B>${html(m.name)}</B>`, '#212121', 11)} ${font(html(m.type) + (m.count > 1 ? ` ×${m.count}` : ''), '#616161', 9)}`,
    ];
    lines.push(font(this.countsText(m), '#424242', 9));
    for (const s of m.sites) lines.push(...this.siteText(s).map((t) => font(html(t), this.colour(s.method), 9)));
    const label = `<TABLE BORDER="0" CELLPADDING="1" CELLSPACING="0">${lines.map((l) => `<TR><TD ALIGN="LEFT">${l}</TD></TR>`).join('')}</TABLE>`;
    return {
      lines: (order) => [`${quote(`${m.id}#heading`)} [shape=plain, style="", class="heading", label=<${label}>, sortv=${order}];`],
      width: Infinity,
    };
  }

  /** A box for the parameters a module holds itself besides its children's (the ViT's `cls_token`, `pos_embed`). */
  ownParams(m: PictureModule, id: string): Placed {
    const state = stateOf(m.own.params, m.own.trained);
    const label = `${font(html(m.own.names.join(', ')), STATE_STYLE[state].text)}<BR/>${font(int(m.own.params), STATE_STYLE[state].sub, 9)}`;
    return this.box(`${id}#params`, label, state, [], 1);
  }

  private clusterAttrs(m: PictureModule): string[] {
    const st = STATE_STYLE[m.state];
    const peft = m.sites.map((s) => s.method);
    const classes = [
      'module',
      m.state,
      ...(m.count > 1 ? ['repeat'] : []),
      ...(peft.length ? ['peft', ...peft.map((p) => `peft-${p}`)] : []),
    ];
    const siteColour = peft.length ? this.colour(peft[0]!) : undefined;
    return [
      `class=${quote(classes.join(' '))}`,
      'label=""',
      `style=${quote(m.count > 1 ? 'filled,rounded,dashed' : 'filled,rounded')}`,
      `fillcolor=${quote(siteColour ? tint(siteColour, 0.1) : CLUSTER_FILL[m.state])}`,
      `color=${quote(siteColour ?? (m.state === 'trained' ? st.line : '#9e9e9e'))}`,
      `penwidth=${siteColour || m.state === 'trained' ? 2 : 1}`,
    ];
  }

  /** `9,451,776 params each · 24,576 trainable` (`each` inside a collapsed repeat's copies). */
  private countsText(m: PictureModule): string {
    const each = m.count > 1 ? ' each' : '';
    const trainable = m.trainable === 0 ? 'frozen' : m.trainable === m.params + m.added ? 'all trainable' : `${int(m.trainable)} trainable`;
    const added = m.added ? ` (${int(m.added)} added)` : '';
    return `${int(m.params + m.added)} params${each}${added} · ${trainable}`;
  }

  /** Two lines: `lora r=4 alpha=32 dropout=0.1` and `+6,144: lora_A, lora_B` (what it adds at one site). */
  private siteText(s: PictureSite): [string, string] {
    const options = siteOptionsText(s.options);
    const adds = s.shared
      ? `uses ${s.shared}`
      : s.trainsSite
        ? 'trains its own parameters'
        : s.added
          ? `+${int(s.added)}: ${s.names.join(', ')}`
          : 'adds no parameters';
    return [`${s.method}${options ? ` ${options}` : ''}`, adds];
  }

  private boxLabel(m: PictureModule): string {
    const st = STATE_STYLE[m.state];
    const lines = [`${font(`<B>${html(m.name)}</B>`, st.text)} ${font(html(m.type) + (m.count > 1 ? ` ×${m.count}` : ''), st.sub, 9)}`];
    lines.push(
      font(
        `${int(m.params)}${m.count > 1 ? ' each' : ''}${m.own.trainedNames.length ? ` · ${int(m.own.trained)} trainable: ${m.own.trainedNames.join(', ')}` : ''}`,
        st.sub,
        9,
      ),
    );
    for (const s of m.sites)
      lines.push(...this.siteText(s).map((t) => font(html(t), m.state === 'trained' ? st.text : this.colour(s.method), 9)));
    return lines.join('<BR/>');
  }

  box(id: string, label: string, state: TrainState, sites: readonly PictureSite[], count: number): Placed {
    const st = STATE_STYLE[state];
    const methods = sites.map((s) => s.method);
    const classes = [
      'module',
      state,
      ...(count > 1 ? ['repeat'] : []),
      ...(methods.length ? ['peft', ...methods.map((m) => `peft-${m}`)] : []),
    ];
    const c = methods.length ? this.colour(methods[0]!) : undefined;
    const fill = c && state !== 'trained' ? tint(c) : st.fill;
    const attrs = [
      `class=${quote(classes.join(' '))}`,
      `label=<${label}>`,
      `fillcolor=${quote(fill)}`,
      `color=${quote(c ?? st.line)}`,
      ...(c ? ['penwidth=2'] : []),
    ];
    return { lines: (order) => [`${quote(id)} [${attrs.join(', ')}, sortv=${order}];`], width: 1 };
  }

  shared(s: PictureShared): Placed {
    const c = this.colour(s.method);
    const label = [
      `${font(`<B>${html(s.name)}</B>`, '#212121')} ${font(`${html(s.method)}, shared by ${s.sites} sites`, '#616161', 9)}`,
      font(`+${int(s.params)}:`, c, 9),
      // Two names a line: a shared group can have many (prefix tuning's encoder has five).
      ...Array.from({ length: Math.ceil(s.names.length / 2) }, (_, i) => font(html(s.names.slice(2 * i, 2 * i + 2).join(', ')), c, 9)),
    ].join('<BR/>');
    const attrs = [
      `class=${quote(`module shared peft peft-${s.method}`)}`,
      `label=<${label}>`,
      `fillcolor=${quote(tint(c))}`,
      `color=${quote(c)}`,
      'penwidth=2',
    ];
    return { lines: (order) => [`${quote(s.name)} [${attrs.join(', ')}, sortv=${order}];`], width: 1 };
  }

  /** One box holding a table of samples: the states, a collapsed repeat, then each method of the tune. */
  legend(order: number): string {
    const cell = (text: string, fill: string, line: string, colour: string, dashed = false) =>
      `<TR><TD BGCOLOR="${fill}" COLOR="${line}" STYLE="${dashed ? 'dashed' : 'rounded'}">${font(html(text), colour)}</TD></TR>`;
    const rows = (['frozen', 'trained', 'partial'] as const).map((s) =>
      cell(STATE_STYLE[s].name, STATE_STYLE[s].fill, STATE_STYLE[s].line, STATE_STYLE[s].text),
    );
    rows.push(cell('copies alike, collapsed', CLUSTER_FILL.frozen, '#9e9e9e', '#424242', true));
    for (const m of this.picture.methods) rows.push(cell(`${m} site`, tint(this.colour(m)), this.colour(m), this.colour(m)));
    const table = `<TABLE BORDER="0" CELLBORDER="1" CELLSPACING="3" CELLPADDING="3"><TR><TD BORDER="0" ALIGN="LEFT"><B>legend</B></TD></TR>${rows.join('')}</TABLE>`;
    return `${quote('legend')} [shape=plain, style="", class="legend", label=<${table}>, sortv=${order}];`;
  }

  title(): string {
    const p = this.picture;
    const head = `<B>${html(p.model)}</B>${p.tune ? ` · tune <B>${html(p.tune)}</B>` : ' · full fine-tuning'}`;
    const counts = `${int(p.trainableParams)} of ${int(p.totalParams)} parameters trainable (${p.trainablePercent.toFixed(4)}%)`;
    const added = p.addedParams ? ` · ${int(p.addedParams)} added by ${p.methods.join(', ') || 'PEFT'}` : '';
    return `<<TABLE BORDER="0" CELLPADDING="2" CELLSPACING="0"><TR><TD ALIGN="LEFT">${font(head, '#212121', 16)}</TD></TR><TR><TD ALIGN="LEFT">${font(counts + added, '#424242', 12)}</TD></TR></TABLE>>`;
  }
}

/** Consecutive parts, packed left to right into rows of at most `ROW_WIDTH` boxes. */
function packRows(parts: readonly Placed[]): Placed[][] {
  const rows: Placed[][] = [];
  let width = Infinity;
  for (const p of parts) {
    if (width + p.width <= ROW_WIDTH) {
      rows[rows.length - 1]!.push(p);
      width += p.width;
    } else {
      rows.push([p]);
      width = p.width;
    }
  }
  return rows;
}

/**
 * The statements that place `groups` in order (osage packs each level in an array ordered by
 * `sortv`): as a column of rows, each row of several parts an invisible cluster of its own, or
 * as a row of columns. A group of one part goes in directly.
 */
function arrange(groups: readonly (readonly Placed[])[], id: string, direction: 'column' | 'row'): string[] {
  const across = direction === 'column' ? 'row' : 'column';
  // Row-major arrays of n columns: one column stacks, n columns make a row.
  const mode = (n: number) => `packmode=${quote(`array_tlu${n}`)};`;
  const lines = [direction === 'column' ? mode(1) : mode(groups.length)];
  groups.forEach((g, i) => {
    if (g.length === 1) return lines.push(...g[0]!.lines(i));
    lines.push(
      `subgraph ${quote(`cluster_${id}#${across}${i}`)} {`,
      `  class="${across}"; style=invis; label=""; margin=0; sortv=${i};`,
      `  ${direction === 'column' ? mode(g.length) : mode(1)}`,
      ...g.flatMap((p, j) => p.lines(j).map((l) => `  ${l}`)),
      '}',
    );
  });
  return lines;
}

/** The DOT text of a picture. */
export function pictureDot(p: ModelPicture): string {
  const w = new DotWriter(p);
  const lines = [
    `digraph ${quote(p.tune ?? p.model)} {`,
    `  graph [layout=osage, fontname="Verdana", labelloc=t, labeljust=l, label=${w.title()}, margin=0.1, bgcolor="white", class="model-picture"];`,
    `  node [shape=box, style="rounded,filled", fontname="Verdana", fontsize=10, margin="0.08,0.03", height=0.3];`,
  ];
  const root = p.root;
  const parts: Placed[] = [];
  if (root.own.params) parts.push(w.ownParams(root, ''));
  for (const c of root.children) parts.push(w.module(c));
  for (const s of p.shared) parts.push(w.shared(s));
  // The top-level modules side by side; the boxes between them stacked, as a column each.
  const columns: Placed[][] = [];
  let boxes: Placed[] | undefined;
  for (const part of parts) {
    if (part.width === Infinity) {
      columns.push([part]);
      boxes = undefined;
    } else if (boxes) boxes.push(part);
    else columns.push((boxes = [part]));
  }
  columns.push([{ lines: (order) => [w.legend(order)], width: 1 }]);
  lines.push(...arrange(columns, '', 'row').map((l) => `  ${l}`), '}');
  return lines.join('\n') + '\n';
}
