/**
 * JSON and JSON-lines files with located errors. JSON.parse's messages vary by engine and often
 * lack the position, so on failure a small validating scanner finds where and why; every
 * message starts with the file's path.
 */
import { readFileSync } from 'node:fs';

export class VqaFormatError extends Error {}

// ---------------------------------------------------------------------------------------------
// JSON with located errors. JSON.parse's messages vary by engine and often lack the position,
// so on failure a small validating scanner finds where and why.

function lineCol(text: string, offset: number): string {
  let line = 1;
  let col = 1;
  for (let i = 0; i < offset && i < text.length; i++) {
    if (text[i] === '\n') {
      line++;
      col = 1;
    } else col++;
  }
  return `line ${line}, column ${col} (offset ${offset})`;
}

/** Returns the offset and reason of the first JSON syntax error, or undefined when valid. */
export function jsonSyntaxError(text: string): { offset: number; reason: string } | undefined {
  let i = 0;
  class Stop extends Error {
    constructor(
      readonly at: number,
      readonly why: string,
    ) {
      super(why);
    }
  }
  const ws = (): void => {
    while (i < text.length && ' \t\n\r'.includes(text[i]!)) i++;
  };
  const desc = (): string => (i >= text.length ? 'unexpected end of input' : `unexpected ${JSON.stringify(text[i])}`);
  const value = (): void => {
    ws();
    const c = text[i];
    if (c === '{') {
      i++;
      ws();
      if (text[i] === '}') {
        i++;
        return;
      }
      for (;;) {
        ws();
        if (text[i] !== '"') throw new Stop(i, `${desc()}, expected a property name`);
        str();
        ws();
        if (text[i] !== ':') throw new Stop(i, `${desc()}, expected ':'`);
        i++;
        value();
        ws();
        if (text[i] === ',') {
          i++;
          continue;
        }
        if (text[i] === '}') {
          i++;
          return;
        }
        throw new Stop(i, `${desc()}, expected ',' or '}'`);
      }
    }
    if (c === '[') {
      i++;
      ws();
      if (text[i] === ']') {
        i++;
        return;
      }
      for (;;) {
        value();
        ws();
        if (text[i] === ',') {
          i++;
          continue;
        }
        if (text[i] === ']') {
          i++;
          return;
        }
        throw new Stop(i, `${desc()}, expected ',' or ']'`);
      }
    }
    if (c === '"') return str();
    const m = /^(-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?|true|false|null)/.exec(text.slice(i, i + 400));
    if (!m) throw new Stop(i, `${desc()}, expected a value`);
    i += m[0].length;
  };
  const str = (): void => {
    const start = i;
    i++;
    while (i < text.length) {
      const c = text[i]!;
      if (c === '"') {
        i++;
        return;
      }
      if (c === '\\') {
        const m = /^\\(["\\/bfnrt]|u[0-9a-fA-F]{4})/.exec(text.slice(i, i + 6));
        if (!m) throw new Stop(i, 'invalid escape in string');
        i += m[0].length;
        continue;
      }
      if (c.charCodeAt(0) < 0x20) throw new Stop(i, 'control character in string');
      i++;
    }
    throw new Stop(start, 'unterminated string');
  };
  try {
    value();
    ws();
    if (i < text.length) throw new Stop(i, `${desc()} after the JSON value`);
    return undefined;
  } catch (e) {
    if (e instanceof Stop) return { offset: e.at, reason: e.why };
    throw e;
  }
}

/** Reads and parses a JSON file; errors start with the path. */
export function readJsonFile(path: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new VqaFormatError(`${path}: cannot read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  try {
    return JSON.parse(text);
  } catch (e) {
    const at = jsonSyntaxError(text);
    if (at) throw new VqaFormatError(`${path}: invalid JSON at ${lineCol(text, at.offset)}: ${at.reason}`);
    throw new VqaFormatError(`${path}: invalid JSON: ${(e as Error).message}`);
  }
}

/** JSON lines (`.jsonl`/`.jsol`): one object per non-empty line. */
export function readJsonLines(path: string): unknown[] {
  const text = readFileSync(path, 'utf8');
  const out: unknown[] = [];
  text.split(/\r?\n/).forEach((line, n) => {
    if (line.trim() === '') return;
    try {
      out.push(JSON.parse(line));
    } catch {
      const at = jsonSyntaxError(line);
      throw new VqaFormatError(`${path}: invalid JSON on line ${n + 1}${at ? `, column ${at.offset + 1}: ${at.reason}` : ''}`);
    }
  });
  return out;
}

// ---------------------------------------------------------------------------------------------
// Field validation.
