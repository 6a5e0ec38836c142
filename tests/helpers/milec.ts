/**
 * Runs the `milec` command as a user would (`bin/milec.js`, the bundle when it is current),
 * asynchronously: the test worker's event loop stays free while the command runs, so vitest's
 * heartbeat to its workers never times out however long a command takes.
 */
import { spawn } from 'node:child_process';

export interface CommandResult {
  /** Exit status (null when killed by a signal). */
  readonly code: number | null;
  readonly out: string;
  readonly err: string;
  /** Wall time of the command in milliseconds. */
  readonly ms: number;
}

export interface RunOptions {
  readonly cwd?: string;
  readonly env?: NodeJS.ProcessEnv;
}

/** Runs `program args` and collects its output. */
export function run(program: string, args: readonly string[], opts: RunOptions = {}): Promise<CommandResult> {
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawn(program, args, { cwd: opts.cwd, env: opts.env ?? milecEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.on('error', reject);
    child.on('close', (code) =>
      resolve({ code, out: Buffer.concat(out).toString('utf8'), err: Buffer.concat(err).toString('utf8'), ms: performance.now() - t0 }),
    );
  });
}

/** The environment commands run in: Dawn needs XDG_RUNTIME_DIR. */
export function milecEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return { ...process.env, XDG_RUNTIME_DIR: process.env.XDG_RUNTIME_DIR ?? '/tmp', ...extra };
}

/** `milec ARGS…` from the repository root. */
export function milec(...args: string[]): Promise<CommandResult> {
  return run(process.execPath, ['bin/milec.js', ...args]);
}

/** The JSON objects a `--json` command printed, one per line of its standard output. */
export function jsonLines(out: string): Record<string, any>[] {
  return out
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, any>);
}
