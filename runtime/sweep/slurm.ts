/**
 * The Slurm side of `milec sweep --on slurm`: the cluster settings (flags over a JSON config
 * file), the two batch scripts it writes, and the `--array` spec of the cells still to run.
 * Pure text in, text out; cli/sweep.ts writes the files and calls `sbatch`.
 *
 * `OUT/sweep.sbatch` is a job array with one task per cell: task N runs
 * `milec sweep FILE … --cell N`, which writes `OUT/cells/N.json` (skipping when it is written).
 * `OUT/collect.sbatch` runs `milec sweep --collect OUT`; it is submitted with
 * `--dependency=afterany:<array job>`, so it runs once every task ended, however each ended.
 * Nothing about a cluster is assumed: partition, account, GPUs, time limit, extra `#SBATCH`
 * lines and set-up lines (`module load …`) come from the settings, and are left out when unset.
 */
import { readFileSync } from 'node:fs';
import { suggestion } from '../../core/diagnostic.ts';
import type { SweepCell } from './cells.ts';

/** What `--on slurm` asks of the cluster. Every field is optional: unset means the cluster's default. */
export interface SlurmSettings {
  readonly partition?: string;
  readonly account?: string;
  /** GPUs per array task (`--gres=gpu:N`); 0 or unset: none requested. */
  readonly gpusPerCell?: number;
  /** Array tasks running at once (`--array=…%K`); unset: as many as the cluster allows. */
  readonly parallel?: number;
  /** Time limit of each task, in any form sbatch takes (`30`, `1:00:00`, `1-0`). */
  readonly time?: string;
  /** Extra sbatch options, one `#SBATCH` line each (`--mem=8G`, `--constraint=a100`, `--qos=short`). */
  readonly sbatchArgs?: readonly string[];
  /** Shell lines each task runs before milec (`module load nodejs/20`, `source ~/env.sh`). */
  readonly setup?: readonly string[];
}

/** An error in the cluster settings: the file (or flag) and why. */
export class SlurmConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SlurmConfigError';
  }
}

const CONFIG_KEYS = ['partition', 'account', 'gpusPerCell', 'parallel', 'time', 'sbatchArgs', 'setup'] as const;

/**
 * The settings of a `--slurm-config` JSON file, e.g.
 * `{ "partition": "gpu", "account": "rad-lab", "gpusPerCell": 1, "time": "2:00:00", "sbatchArgs": ["--mem=16G"], "setup": ["module load nodejs/20"] }`.
 * An unknown key or a value of the wrong type is an error naming the file and the key.
 */
export function readSlurmConfig(path: string): SlurmSettings {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new SlurmConfigError(`${path}: cannot read the Slurm config (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new SlurmConfigError(`${path}: the Slurm config is not valid JSON (${(e as Error).message})`);
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw))
    throw new SlurmConfigError(`${path}: the Slurm config must be a JSON object`);
  const o = raw as Record<string, unknown>;
  for (const k of Object.keys(o)) {
    if (!(CONFIG_KEYS as readonly string[]).includes(k)) {
      const help = suggestion(k, [...CONFIG_KEYS]).help;
      throw new SlurmConfigError(`${path}: unknown key "${k}"${help ? ` (${help})` : ''}; the keys are ${CONFIG_KEYS.join(', ')}`);
    }
  }
  const str = (k: string) => {
    if (o[k] !== undefined && typeof o[k] !== 'string') throw new SlurmConfigError(`${path}: "${k}" must be a string`);
    return o[k] as string | undefined;
  };
  const count = (k: string, min: number) => {
    const v = o[k];
    if (v !== undefined && (typeof v !== 'number' || !Number.isInteger(v) || v < min))
      throw new SlurmConfigError(`${path}: "${k}" must be an integer ≥ ${min}`);
    return v as number | undefined;
  };
  const lines = (k: string) => {
    const v = o[k];
    if (v !== undefined && (!Array.isArray(v) || v.some((x) => typeof x !== 'string' || x.includes('\n'))))
      throw new SlurmConfigError(`${path}: "${k}" must be a list of one-line strings`);
    return v as string[] | undefined;
  };
  return {
    partition: str('partition'),
    account: str('account'),
    gpusPerCell: count('gpusPerCell', 0),
    parallel: count('parallel', 1),
    time: str('time'),
    sbatchArgs: lines('sbatchArgs'),
    setup: lines('setup'),
  };
}

/** The config file's settings with the flags' over them (extra sbatch lines and set-up lines add up). */
export function mergeSlurmSettings(file: SlurmSettings, flags: SlurmSettings): SlurmSettings {
  return {
    partition: flags.partition ?? file.partition,
    account: flags.account ?? file.account,
    gpusPerCell: flags.gpusPerCell ?? file.gpusPerCell,
    parallel: flags.parallel ?? file.parallel,
    time: flags.time ?? file.time,
    sbatchArgs: [...(file.sbatchArgs ?? []), ...(flags.sbatchArgs ?? [])],
    setup: [...(file.setup ?? []), ...(flags.setup ?? [])],
  };
}

/** `0-3,5,7-8`: the indices (ascending, distinct) as sbatch's `--array` ranges. */
export function arrayRanges(indices: readonly number[]): string {
  const sorted = [...new Set(indices)].sort((a, b) => a - b);
  const parts: string[] = [];
  for (let i = 0; i < sorted.length;) {
    let j = i;
    while (j + 1 < sorted.length && sorted[j + 1] === sorted[j]! + 1) j++;
    parts.push(i === j ? `${sorted[i]}` : `${sorted[i]}-${sorted[j]}`);
    i = j + 1;
  }
  return parts.join(',');
}

/** A word for a shell command line: bare when it is safe, else single-quoted. */
export function shellWord(s: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

/** What both scripts need to know about the sweep. */
export interface SweepJobs {
  /** The .mile file as given, for the comments. */
  readonly source: string;
  /** Absolute: the sweep's folder, where cells/, logs/ and the reports go. */
  readonly out: string;
  /** Absolute: the folder the tasks start in (where `milec sweep … --on slurm` ran), so relative paths of the command line hold. */
  readonly workdir: string;
  /** Absolute: bin/milec.js of this checkout or install. */
  readonly milec: string;
  /** The command line of one cell after `milec sweep`, without `--cell` (the task adds it). */
  readonly cellArgs: readonly string[];
  readonly cells: readonly SweepCell[];
  /** The cells this submission runs (all, or those without a result). */
  readonly toRun: readonly number[];
  /** When the scripts were written, for their header. */
  readonly writtenAt: string;
}

/** The `#SBATCH` lines both scripts share: where, under whose account, for how long, and the extra ones. */
function commonDirectives(s: SlurmSettings, workdir: string): string[] {
  return [
    `#SBATCH --chdir=${shellWord(workdir)}`,
    ...(s.partition ? [`#SBATCH --partition=${shellWord(s.partition)}`] : []),
    ...(s.account ? [`#SBATCH --account=${shellWord(s.account)}`] : []),
    ...(s.time ? [`#SBATCH --time=${shellWord(s.time)}`] : []),
  ];
}

/** Dawn and Mesa want a private runtime folder, which batch jobs often lack; and the set-up lines. */
function environment(s: SlurmSettings): string[] {
  return [
    'set -euo pipefail',
    '',
    '# Dawn (WebGPU) and Mesa want a private runtime folder; batch jobs often start without one.',
    'if [ -z "${XDG_RUNTIME_DIR:-}" ] || [ ! -w "${XDG_RUNTIME_DIR}" ]; then',
    '  export XDG_RUNTIME_DIR="/tmp/xdg-$(id -u)"',
    '  mkdir -p -m 700 "$XDG_RUNTIME_DIR"',
    'fi',
    ...(s.setup?.length ? ['', '# Set-up lines of the Slurm settings (--slurm-config "setup").', ...s.setup] : []),
  ];
}

/** `OUT/sweep.sbatch`: the job array, one cell per task. */
export function sweepSbatch(job: SweepJobs, s: SlurmSettings): string {
  const cellCommand = ['node', shellWord(job.milec), 'sweep', ...job.cellArgs.map(shellWord), '--cell', '"$SLURM_ARRAY_TASK_ID"'].join(' ');
  const array = `${arrayRanges(job.toRun)}${s.parallel ? `%${s.parallel}` : ''}`;
  const width = Math.max(4, ...job.cells.map((c) => c.tune.length));
  const dataWidth = Math.max(4, ...job.cells.map((c) => c.data.length));
  return [
    '#!/bin/bash',
    `# milec sweep of ${job.source}: ${job.cells.length} cells as a Slurm job array, one cell per task.`,
    `# Written by \`milec sweep --on slurm\` at ${job.writtenAt}.`,
    '#',
    '# Task N runs cell N and writes its result atomically to cells/N.json under',
    `# ${job.out}; a cell whose result is already there exits at once, so`,
    '# submitting this script again (sbatch sweep.sbatch) reruns only the cells that have none.',
    '# `milec sweep … --on slurm` with the same command line does that and submits only those.',
    '# `milec sweep --collect OUT` (collect.sbatch) merges whatever finished into the reports.',
    '#',
    '# The cells (index = (dataset × seeds + seed) × tunes + tune):',
    ...job.cells.map((c) => `#   ${String(c.index).padStart(3)}  ${c.tune.padEnd(width)}  ${c.data.padEnd(dataWidth)}  seed ${c.seed}`),
    '#',
    '#SBATCH --job-name=milec-sweep',
    `#SBATCH --array=${array}`,
    '#SBATCH --ntasks=1',
    `#SBATCH --output=${shellWord(`${job.out}/logs/cell-%a.log`)}`,
    ...commonDirectives(s, job.workdir),
    ...(s.gpusPerCell ? [`#SBATCH --gres=gpu:${s.gpusPerCell}`] : []),
    ...(s.sbatchArgs ?? []).map((a) => `#SBATCH ${a}`),
    '',
    ...environment(s),
    '',
    '# node from PATH (sbatch passes the submitting shell’s environment on by default).',
    `exec ${cellCommand}`,
    '',
  ].join('\n');
}

/** `OUT/collect.sbatch`: merges the cells into the reports once the array ended (submitted with `--dependency=afterany:<array>`). */
export function collectSbatch(job: SweepJobs, s: SlurmSettings): string {
  return [
    '#!/bin/bash',
    `# Collects the sweep of ${job.source} into sweep.json, sweep.csv, sweep.md and report.html`,
    `# under ${job.out}, listing the cells without a result with the tail of their log.`,
    '# Submitted with --dependency=afterany:<the array job>, so it runs after every task, however',
    '# each ended. Needs no GPU; `milec sweep --collect OUT` does the same anywhere.',
    '#',
    '#SBATCH --job-name=milec-sweep-collect',
    '#SBATCH --ntasks=1',
    `#SBATCH --output=${shellWord(`${job.out}/logs/collect.log`)}`,
    ...commonDirectives(s, job.workdir),
    ...(s.sbatchArgs ?? []).map((a) => `#SBATCH ${a}`),
    '',
    ...environment(s),
    '',
    `exec node ${shellWord(job.milec)} sweep --collect ${shellWord(job.out)}`,
    '',
  ].join('\n');
}

/**
 * The options of `milec sweep` that only concern submitting (`true`: takes a value): left out
 * of the command line each array task runs, with `--cell` and `--collect`.
 */
const SUBMIT_ONLY: Readonly<Record<string, boolean>> = {
  '--on': true,
  '--partition': true,
  '--account': true,
  '--gpus-per-cell': true,
  '--parallel': true,
  '--time': true,
  '--sbatch-arg': true,
  '--slurm-config': true,
  '--dry-run': false,
  '--cell': true,
  '--collect': true,
};

/** `argv` (a command line after `milec sweep`) without the submit-only options, in `--opt v` and `--opt=v` forms. */
export function cellArgv(argv: readonly string[]): string[] {
  const kept: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') {
      kept.push(...argv.slice(i));
      break;
    }
    const name = a.startsWith('--') ? a.split('=')[0]! : '';
    if (name in SUBMIT_ONLY) {
      if (SUBMIT_ONLY[name] && !a.includes('=')) i++;
      continue;
    }
    kept.push(a);
  }
  return kept;
}
