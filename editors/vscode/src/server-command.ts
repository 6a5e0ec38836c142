/**
 * Which command starts the language server (`milec lsp --stdio`). Pure, so the root test
 * suite checks it without VS Code (`tests/editor/server-command.test.ts`).
 *
 * In order: the `milec.serverPath` setting; `milec` installed in a workspace folder
 * (`node_modules/.bin`, as `npm install milec` leaves it); `milec` on `PATH`; `npx --no milec`,
 * which runs a copy npm can find without downloading anything.
 */
import { delimiter, join } from 'node:path';

export interface ServerCommand {
  readonly command: string;
  readonly args: readonly string[];
  /** Windows runs `.cmd` shims (npm's bin links, `npx`) only through a shell. */
  readonly shell: boolean;
  /** Where it came from, for the output panel and error messages. */
  readonly source: 'setting' | 'workspace' | 'PATH' | 'npx';
}

export interface ServerEnvironment {
  /** The `milec.serverPath` setting ('' when unset). */
  readonly serverPath: string;
  readonly workspaceFolders: readonly string[];
  /** `process.env.PATH`. */
  readonly path: string;
  readonly platform: NodeJS.Platform;
  readonly isFile: (path: string) => boolean;
}

export const SERVER_ARGS = ['lsp', '--stdio'] as const;

/** The names an executable `milec` has on this platform: npm links `milec.cmd` on Windows. */
function executableNames(platform: NodeJS.Platform): string[] {
  return platform === 'win32' ? ['milec.cmd', 'milec.exe', 'milec'] : ['milec'];
}

const needsShell = (command: string, platform: NodeJS.Platform) => platform === 'win32' && /\.(cmd|bat)$/i.test(command);

export function resolveServerCommand(env: ServerEnvironment): ServerCommand {
  const found = (command: string, source: ServerCommand['source']): ServerCommand => ({
    command,
    args: SERVER_ARGS,
    shell: needsShell(command, env.platform),
    source,
  });
  const configured = env.serverPath.trim();
  if (configured !== '') return found(configured, 'setting');
  const names = executableNames(env.platform);
  for (const folder of env.workspaceFolders) {
    for (const name of names) {
      const candidate = join(folder, 'node_modules', '.bin', name);
      if (env.isFile(candidate)) return found(candidate, 'workspace');
    }
  }
  for (const dir of env.path.split(delimiter).filter((d) => d !== '')) {
    for (const name of names) {
      const candidate = join(dir, name);
      if (env.isFile(candidate)) return found(candidate, 'PATH');
    }
  }
  const npx = env.platform === 'win32' ? 'npx.cmd' : 'npx';
  return { command: npx, args: ['--no', 'milec', ...SERVER_ARGS], shell: env.platform === 'win32', source: 'npx' };
}

/** `milec lsp --stdio`, as a user would type it. */
export function describeServerCommand(c: ServerCommand): string {
  return [c.command, ...c.args].map((a) => (/\s/.test(a) ? JSON.stringify(a) : a)).join(' ');
}
