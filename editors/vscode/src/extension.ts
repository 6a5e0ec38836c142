/**
 * The VS Code side of milec's editor support: highlighting comes from the TextMate grammar
 * (`syntaxes/`), everything else (diagnostics, hover, completion, go to definition, …) from the
 * language server that `milec lsp --stdio` runs. This file only starts, restarts and stops it.
 */
import { statSync } from 'node:fs';
import * as vscode from 'vscode';
import { LanguageClient, type LanguageClientOptions, type ServerOptions } from 'vscode-languageclient/node';
import { describeServerCommand, resolveServerCommand, type ServerCommand } from './server-command';

let client: LanguageClient | undefined;
let output: vscode.OutputChannel | undefined;

function isFile(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

function serverCommand(): ServerCommand {
  return resolveServerCommand({
    serverPath: vscode.workspace.getConfiguration('milec').get<string>('serverPath', ''),
    workspaceFolders: (vscode.workspace.workspaceFolders ?? []).filter((f) => f.uri.scheme === 'file').map((f) => f.uri.fsPath),
    path: process.env.PATH ?? '',
    platform: process.platform,
    isFile,
  });
}

async function startServer(): Promise<void> {
  const command = serverCommand();
  const cwd = vscode.workspace.workspaceFolders?.find((f) => f.uri.scheme === 'file')?.uri.fsPath;
  const executable = { command: command.command, args: [...command.args], options: { cwd, shell: command.shell } };
  const serverOptions: ServerOptions = { run: executable, debug: executable };
  output ??= vscode.window.createOutputChannel('milec');
  const clientOptions: LanguageClientOptions = {
    documentSelector: [
      { scheme: 'file', language: 'mile' },
      { scheme: 'untitled', language: 'mile' },
    ],
    synchronize: { fileEvents: vscode.workspace.createFileSystemWatcher('**/*.mile') },
    outputChannel: output,
  };
  output.appendLine(`starting ${describeServerCommand(command)} (from ${command.source})`);
  client = new LanguageClient('milec', 'milec language server', serverOptions, clientOptions);
  try {
    await client.start();
  } catch (e) {
    client = undefined;
    const message = e instanceof Error ? e.message : String(e);
    const choice = await vscode.window.showErrorMessage(
      `milec: could not start the language server (${describeServerCommand(command)}): ${message}. ` +
        'Install milec (`npm install milec`) or set `milec.serverPath`.',
      'Open Settings',
    );
    if (choice === 'Open Settings') await vscode.commands.executeCommand('workbench.action.openSettings', 'milec.serverPath');
  }
}

async function stopServer(): Promise<void> {
  const running = client;
  client = undefined;
  if (running?.isRunning()) await running.stop();
}

async function restartServer(): Promise<void> {
  await stopServer();
  await startServer();
}

export async function activate(context: vscode.ExtensionContext): Promise<void> {
  context.subscriptions.push(
    vscode.commands.registerCommand('milec.restartServer', restartServer),
    vscode.workspace.onDidChangeConfiguration((e) => {
      if (e.affectsConfiguration('milec.serverPath')) void restartServer();
    }),
    { dispose: () => void stopServer() },
  );
  await startServer();
}

export function deactivate(): Promise<void> {
  return stopServer();
}
