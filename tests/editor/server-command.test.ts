/** How the VS Code extension finds `milec` to run `milec lsp --stdio` (`editors/vscode/src/server-command.ts`). */
import { delimiter, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { resolveServerCommand, type ServerEnvironment } from '../../editors/vscode/src/server-command.ts';

const env = (over: Partial<ServerEnvironment> & { files?: string[] }): ServerEnvironment => {
  const files = new Set(over.files ?? []);
  return { serverPath: '', workspaceFolders: [], path: '', platform: 'linux', isFile: (p) => files.has(p), ...over };
};

describe('the language server command', () => {
  it('uses the milec.serverPath setting first', () => {
    const c = resolveServerCommand(env({ serverPath: ' /opt/milec/bin/milec ', files: [join('/usr/bin', 'milec')], path: '/usr/bin' }));
    expect(c).toEqual({ command: '/opt/milec/bin/milec', args: ['lsp', '--stdio'], shell: false, source: 'setting' });
  });

  it('prefers a workspace install to PATH, in workspace-folder order', () => {
    const ws = join('/w2', 'node_modules', '.bin', 'milec');
    const c = resolveServerCommand(env({ workspaceFolders: ['/w1', '/w2'], files: [ws, join('/usr/bin', 'milec')], path: '/usr/bin' }));
    expect(c).toMatchObject({ command: ws, source: 'workspace' });
  });

  it('searches PATH in order, skipping empty entries', () => {
    const second = join('/b', 'milec');
    const c = resolveServerCommand(env({ path: ['', '/a', '/b'].join(delimiter), files: [second] }));
    expect(c).toMatchObject({ command: second, args: ['lsp', '--stdio'], source: 'PATH' });
  });

  it('on Windows finds npm’s milec.cmd shim and runs it through a shell', () => {
    const shim = join('/w', 'node_modules', '.bin', 'milec.cmd');
    const c = resolveServerCommand(env({ platform: 'win32', workspaceFolders: ['/w'], files: [shim] }));
    expect(c).toEqual({ command: shim, args: ['lsp', '--stdio'], shell: true, source: 'workspace' });
  });

  it('falls back to npx without letting it download anything', () => {
    expect(resolveServerCommand(env({ path: '/usr/bin' }))).toEqual({
      command: 'npx',
      args: ['--no', 'milec', 'lsp', '--stdio'],
      shell: false,
      source: 'npx',
    });
    expect(resolveServerCommand(env({ platform: 'win32' }))).toMatchObject({ command: 'npx.cmd', shell: true });
  });
});
