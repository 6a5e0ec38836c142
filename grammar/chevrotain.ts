/**
 * chevrotain's runtime values, loaded from its single-file bundle (`lib/chevrotain.mjs`).
 *
 * The package's ESM entry (`lib/src/api.js`) pulls in about 640 lodash-es modules: importing
 * it took 1.0 s in plain Node and 2.2–2.5 s under tsx's loader (every module goes through
 * its hooks), most of the start-up time of every `milec` command. The bundle is the same
 * code in one file and loads in 0.2–0.3 s. Types still come from the package.
 *
 * Import chevrotain *values* only from this module: token types, lexers and parsers from
 * two copies of chevrotain must not meet (token type indices are per copy).
 */
import type * as Chevrotain from 'chevrotain';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';

/** `<pkg>/lib/chevrotain.mjs`, found from the package entry `<pkg>/lib/src/api.js`. */
const bundle = join(dirname(dirname(dirname(createRequire(import.meta.url).resolve('chevrotain')))), 'lib', 'chevrotain.mjs');
const chevrotain: typeof Chevrotain = existsSync(bundle) ? await import(pathToFileURL(bundle).href) : await import('chevrotain');

export const { createToken, CstParser, EOF, Lexer, tokenMatcher } = chevrotain;
export type Lexer = Chevrotain.Lexer;
export type CstParser = Chevrotain.CstParser;
