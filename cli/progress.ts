/** Progress bars of the long-running commands: on stderr, only when it is a terminal and the output is not `--json`. */
import cliProgress from 'cli-progress';

/** A bar with `format` (cli-progress placeholders: `{bar}`, `{value}`, `{total}`, `{eta_formatted}`, and payload keys), or undefined when it would not be seen. */
export function progressBar(format: string, o: { json?: boolean }): cliProgress.SingleBar | undefined {
  if (o.json || !process.stderr.isTTY) return undefined;
  return new cliProgress.SingleBar(
    { format, barsize: 24, hideCursor: true, clearOnComplete: false, etaBuffer: 20, stream: process.stderr },
    cliProgress.Presets.shades_classic,
  );
}

/**
 * Runs `work` with a bar of `total` units (`what`: `evaluating 64 items`), which `work`
 * advances through the callback it gets. Without a terminal, and not `--json`, one line says
 * what is being done instead, so a long evaluation is never silent.
 */
export async function withProgress<T>(
  what: string,
  total: number,
  o: { json?: boolean },
  work: (onProgress: (done: number) => void) => Promise<T>,
): Promise<T> {
  const bar = progressBar(`  ${what} {bar} {value}/{total} | ETA {eta_formatted}`, o);
  if (!bar && !o.json) process.stderr.write(`  ${what} …\n`);
  bar?.start(total, 0);
  try {
    return await work((done) => bar?.update(done));
  } finally {
    bar?.stop();
  }
}
