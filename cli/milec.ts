/**
 * The `milec` command line. Exit codes: 0 success, 1 a compile/data/runtime error in the
 * user's input (reported as a located diagnostic or a one-line message), 2 a usage error.
 */
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { checkCommand, compileCommand, type CompileCliOptions, emitKinds } from './compile.ts';
import { planCommand } from './plan.ts';
import { UsageError, UserError } from './errors.ts';
import type { MethodRegistry } from '../compiler/peft/registry.ts';

function int(name: string) {
  return (v: string) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n <= 0) throw new InvalidArgumentError(`${name} must be a positive integer, got "${v}"`);
    return n;
  };
}
function nonNegInt(v: string) {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError(`must be a non-negative integer, got "${v}"`);
  return n;
}
function float(v: string) {
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError(`must be a positive number, got "${v}"`);
  return n;
}

function collect(v: string, previous: string[]): string[] {
  return [...previous, v];
}

/** The methods of `--plugin` files with the built-ins; a file that cannot be used is a one-line user error. */
async function pluginRegistry(files: readonly string[]): Promise<MethodRegistry | undefined> {
  if (files.length === 0) return undefined;
  const { loadPlugins, PluginError } = await import('../runtime/plugins.ts');
  try {
    return await loadPlugins(files);
  } catch (e) {
    throw e instanceof PluginError ? new UserError(e.message) : e;
  }
}

const program = new Command()
  .name('milec')
  .description('Compile .mile models with PEFT tunes to WebGPU, and train them.')
  .version('0.1.0')
  .showSuggestionAfterError(true)
  .exitOverride();

/**
 * The optimizer flags of `train` and `sweep`. They have no defaults of their own: an unset flag
 * falls back to the tune's `optimizer { … }`, then to the command's default (`runtime/train-setup.ts : resolveOptimizer`).
 */
const lrOption = (fallback: string) =>
  new Option('--lr <x>', `learning rate (AdamW; default: the tune's optimizer lr, else ${fallback})`).argParser(float);
const scheduleOption = () =>
  new Option(
    '--schedule <kind>',
    "learning-rate schedule after warm-up (cosine: down to 0 at the last step, as the study; default: the tune's, else constant)",
  ).choices(['constant', 'cosine']);
/** `--config name=value` (repeatable): config values replacing the model's own, e.g. `--config qlen=24`. */
const configOption = () =>
  new Option('--config <name=value>', 'set a config value of the model, e.g. --config qlen=24 (repeatable)').argParser(
    (v: string, previous: Map<string, string> | undefined) => {
      const m = /^([A-Za-z_][A-Za-z0-9_]*)=(.+)$/.exec(v);
      if (!m) throw new InvalidArgumentError(`expected name=value, got "${v}"`);
      return new Map(previous ?? []).set(m[1]!, m[2]!);
    },
  );
const warmupOption = () =>
  new Option('--warmup <n>', "steps of linear learning-rate warm-up from 0 (default: the tune's, else 0)").argParser(nonNegInt);
const weightDecayOption = () =>
  new Option('--weight-decay <x>', "AdamW decoupled weight decay (default: the tune's, else 0)").argParser((v: string) => Number(v));

program
  .command('check')
  .description('parse and check a .mile file (names, types, shapes, tunes)')
  .argument('<file>', '.mile file')
  .option('--tune <name>', 'also check this tune')
  .option('--model <name>', 'model to check when the file has several')
  .addOption(configOption())
  .option('--plugin <file.ts>', 'load the PEFT methods a TypeScript file exports (repeatable)', collect, [])
  .action(async (file: string, o: { tune?: string; model?: string; config?: Map<string, string>; plugin: string[] }) => {
    process.exitCode = checkCommand(file, { ...o, registry: await pluginRegistry(o.plugin) });
  });

program
  .command('compile')
  .description('compile a model and tune; print a stage with --emit or write artifacts with -o')
  .argument('<file>', '.mile file')
  .option('--tune <name>', 'tune to apply (default: train every parameter)')
  .option('--model <name>', 'model to compile when the file has several')
  .addOption(configOption())
  .addOption(new Option('--emit <stage>', 'print one stage (graph: the model picture, DOT)').choices(emitKinds as unknown as string[]))
  .option('--batch <n>', 'batch size that binds B for wgsl/plan', int('--batch'), 8)
  .option('--dim <name=size...>', 'bind another symbolic size, e.g. --dim T=128')
  .option('--eval', 'compile the inference graph (no dropout, no gradients)')
  .addOption(
    new Option('--target <kind>', 'kernels for a GPU, or for a software adapter such as lavapipe (cpu)')
      .choices(['gpu', 'cpu'])
      .default('gpu'),
  )
  .option('-o, --out <dir>', 'write the WGSL kernels and the plan to this folder')
  .option('--plugin <file.ts>', 'load the PEFT methods a TypeScript file exports (repeatable)', collect, [])
  .action(async (file: string, o: CompileCliOptions & { plugin: string[] }) => {
    process.exitCode = await compileCommand(file, { ...o, registry: await pluginRegistry(o.plugin) });
  });

program
  .command('plan')
  .description('show the sites a tune matches, parameter counts and estimated training memory (no GPU)')
  .argument('<file>', '.mile file')
  .requiredOption('--tune <name>', 'tune to plan; several as a,b,c, or all')
  .option('--model <name>', 'model to plan when the file has several')
  .addOption(configOption())
  .option('--batch <n>', 'batch size for the memory estimate', int('--batch'), 1)
  .option('--dim <name=size...>', 'bind a symbolic size other than B, e.g. --dim T=128')
  .option('--json', 'print one JSON object (one line per tune)')
  .option('--svg <out>', 'also draw the model picture: to this .svg file, or with several tunes into this folder as <tune>.svg')
  .option('--plugin <file.ts>', 'load the PEFT methods a TypeScript file exports (repeatable)', collect, [])
  .action(
    async (
      file: string,
      o: {
        tune: string;
        model?: string;
        config?: Map<string, string>;
        batch: number;
        dim?: string[];
        json?: boolean;
        svg?: string;
        plugin: string[];
      },
    ) => {
      process.exitCode = await planCommand(file, { ...o, registry: await pluginRegistry(o.plugin) });
    },
  );

program
  .command('lsp')
  .description('run the .mile language server (LSP) for editors: diagnostics, hover, definition, completion, rename, formatting')
  .option('--stdio', 'talk LSP over stdin/stdout (the only transport; editors pass it)')
  .action(async () => {
    const { lspCommand } = await import('./lsp.ts');
    lspCommand();
  });

program
  .command('new')
  .description('scaffold a new source file')
  .command('method')
  .description('scaffold a TypeScript PEFT-method plugin (a working zero-initialised delta on Linear)')
  .argument('<name>', 'method name: lowercase letters, digits and _')
  .option('--dir <dir>', 'folder to write NAME.ts in', '.')
  .action(async (name: string, o: { dir: string }) => {
    const { newMethodCommand } = await import('./new.ts');
    try {
      process.exitCode = newMethodCommand(name, o);
    } catch (e) {
      if (!(e instanceof UsageError)) throw e;
      process.stderr.write(`error: ${e.message}\n`);
      process.exitCode = 2;
    }
  });

program
  .command('train')
  .description('train a tune on WebGPU (Dawn), saving the trained weights as safetensors')
  .argument('<file>', '.mile file')
  .option('--tune <name>', 'tune to train (default: train every parameter)')
  .option('--model <name>', 'model to train when the file has several')
  .addOption(configOption())
  .option('--data <spec>', 'dataset: synthetic, synthetic-instruction, vqa-rad:PATH, slake:PATH, instruction:PATH', 'synthetic')
  .option('--vocab <path>', 'tokenizer vocabulary (vocab.txt or tokenizer.json) for vqa-rad/slake/instruction data')
  .option('--strict', 'a malformed data item is an error instead of a reported, skipped item')
  .option('--steps <n>', 'optimizer steps', int('--steps'), 300)
  .option('--batch <n>', 'batch size', int('--batch'), 32)
  .addOption(lrOption('3e-3'))
  .addOption(scheduleOption())
  .addOption(warmupOption())
  .addOption(weightDecayOption())
  .option('--seed <n>', 'seed for initialisation, data order and dropout', nonNegInt, 0)
  .option('--dim <name=size...>', 'bind a symbolic size other than B, e.g. --dim T=128')
  .option('--log-every <n>', 'log the loss every n steps', int('--log-every'), 10)
  .option('--checkpoint-every <n>', 'save a checkpoint every n steps', int('--checkpoint-every'), 100)
  .option('--eval-batches <n>', 'held-out batches for the final accuracy (0: skip the evaluation)', nonNegInt, 8)
  .option('--out <dir>', 'output folder', 'runs/latest')
  .option('--json', 'print one JSON object per logged step instead of a progress bar')
  .option('--software', 'use the software (CPU) adapter even when a GPU is present')
  .option(
    '--weights <path[@prefix],...>',
    "load backbone weights from safetensors file(s), each under a module prefix, e.g. vit.safetensors@visual_encoder (default: the model's weights { } block; none: random initial values)",
  )
  .addOption(
    new Option(
      '--weights-map <name>',
      'key-name mapping for --weights (one, or one per file, comma-separated): hf-bert, timm-vit, hf-vit, blip, none',
    ).default('none'),
  )
  .option('--allow-missing', 'with --weights: warn about missing and unexpected keys instead of failing')
  .option('--adapter <dir>', 'start from a saved adapter folder (peft adapter_config.json + adapter_model.safetensors)')
  .option('--resume <dir>', 'continue a run from its training-state checkpoint (a run folder or its checkpoint/)')
  .option(
    '--save-weights <file>',
    "also write the model's own parameters after training (PEFT-added ones left out) to one safetensors file, with the command, seed and milec version in its metadata: a start for --weights or a model's weights { } block",
  )
  .option('--plugin <file.ts>', 'load the PEFT methods a TypeScript file exports (repeatable)', collect, [])
  .action(async (file: string, o) => {
    // Loaded on use: it brings in Dawn's native module, which only training needs.
    const { trainCommand } = await import('./train.ts');
    process.exitCode = await trainCommand(file, { ...o, registry: await pluginRegistry(o.plugin) });
  });

program
  .command('export')
  .description('write a self-contained PyTorch package for a model and tune (data-parallel training with torch.distributed)')
  .argument('<file>', '.mile file')
  .option('--torch <dir>', 'folder to write: model.py, the PEFT methods, weights, data shards, train.py (docs/export-torch.md)')
  .option('--tune <name>', 'tune to export (default: train every parameter)')
  .option('--model <name>', 'model to export when the file has several')
  .addOption(configOption())
  .option('--data <spec>', 'dataset to pre-process into shards (as milec train --data)', 'synthetic')
  .option('--vocab <path>', 'tokenizer vocabulary (vocab.txt or tokenizer.json) for vqa-rad/slake/instruction data')
  .option('--strict', 'a malformed data item is an error instead of a reported, skipped item')
  .option('--steps <n>', 'global batches to export (train.py wraps around after them)', int('--steps'), 300)
  .option('--batch <n>', 'global batch size (split over the ranks)', int('--batch'), 32)
  .addOption(lrOption('3e-3'))
  .addOption(scheduleOption())
  .addOption(warmupOption())
  .addOption(weightDecayOption())
  .option('--seed <n>', 'seed for initial values, data order and dropout', nonNegInt, 0)
  .option('--dim <name=size...>', 'bind a symbolic size other than B, e.g. --dim T=128')
  .option('--weights <path[@prefix],...>', "backbone weights (as milec train; default: the model's weights { } block; none: random)")
  .addOption(new Option('--weights-map <name>', 'key-name mapping for --weights: hf-bert, timm-vit, hf-vit, blip, none').default('none'))
  .option('--allow-missing', 'with --weights: warn about missing and unexpected keys instead of failing')
  .option('--adapter <dir>', 'start from a saved adapter folder')
  .option('--plugin <file.ts>', 'load the PEFT methods a TypeScript file exports (repeatable)', collect, [])
  .action(async (file: string, o) => {
    const { exportCommand } = await import('./export.ts');
    process.exitCode = await exportCommand(file, { ...o, registry: await pluginRegistry(o.plugin) });
  });

program
  .command('sweep')
  .description(
    'train and evaluate every tune of a file with the same data and schedule; write a comparison table and report (here, or as a Slurm job array with --on slurm)',
  )
  .argument('[file]', '.mile file (none with --collect)')
  .option('--tunes <a,b,...>', 'tunes to run (default: all in the file)')
  .option('--model <name>', 'model when the file has several')
  .addOption(configOption())
  .option(
    '--data <spec>',
    'training data: synthetic, synthetic-instruction, vqa-rad:PATH, slake:PATH, instruction:PATH; a,b runs every tune on each',
    'synthetic',
  )
  .option('--vocab <path>', 'tokenizer vocabulary (vocab.txt or tokenizer.json) for vqa-rad/slake/instruction data')
  .option(
    '--eval-data <spec>',
    'evaluation items (default: 500 eval items of a synthetic set, e.g. synthetic-vqa:500 for --data synthetic; else --data)',
  )
  .option('--steps <n>', 'optimizer steps per tune', int('--steps'), 80)
  .option('--batch <n>', 'batch size', int('--batch'), 16)
  .addOption(lrOption('1e-3'))
  .addOption(scheduleOption())
  .addOption(warmupOption())
  .addOption(weightDecayOption())
  .option('--seed <n>', 'seed for initialisation, data order and dropout', nonNegInt, 0)
  .option('--seeds <a,b,...>', 'run every tune from each of these seeds (a cell per seed; default: --seed)', (v: string) =>
    v.split(',').map((x) => nonNegInt(x.trim())),
  )
  .option('--dim <name=size...>', 'bind a symbolic size other than B')
  .option('--beams <n>', 'beam width for evaluation (1: greedy; BLIP generates with 3)', int('--beams'), 1)
  .option(
    '--weights <path[@prefix],...>',
    "start every tune from these backbone weights (safetensors; as for train; default: the model's weights { } block; none: random initial values)",
  )
  .addOption(new Option('--weights-map <name>', 'key-name mapping for --weights: hf-bert, timm-vit, hf-vit, blip, none').default('none'))
  .option('--allow-missing', 'with --weights: warn about missing and unexpected keys instead of failing')
  .option('--out <dir>', 'output folder', 'runs/sweep')
  .option('--json', 'print one JSON object per tune instead of progress')
  .option('--software', 'use the software (CPU) adapter even when a GPU is present')
  .option('--plugin <file.ts>', 'load the PEFT methods a TypeScript file exports (repeatable)', collect, [])
  // Cells (docs/cluster.md): tune × dataset × seed, numbered dataset-major, then seed, then tune.
  .option('--cell <n>', 'run only cell n, writing OUT/cells/n.json (default: $SLURM_ARRAY_TASK_ID when set, without --on)', nonNegInt)
  .option('--collect <out>', 'merge the cells of the sweep in this folder into its reports, listing missing and failed cells')
  .option('--parallel <k>', 'cells at once: K processes here, or the job array limit (%K) with --on slurm', int('--parallel'))
  .addOption(new Option('--on <scheduler>', 'submit the cells as a job array instead of running them here').choices(['slurm']))
  .option('--partition <name>', 'with --on slurm: the partition')
  .option('--account <name>', 'with --on slurm: the account to charge')
  .option('--gpus-per-cell <n>', 'with --on slurm: GPUs per array task (--gres=gpu:N)', nonNegInt)
  .option('--time <limit>', 'with --on slurm: time limit per task, as sbatch takes it (e.g. 1:00:00)')
  .option('--sbatch-arg <arg>', 'with --on slurm: an extra #SBATCH line, e.g. --sbatch-arg=--mem=16G (repeatable)', collect, [])
  .option('--slurm-config <file.json>', 'with --on slurm: partition, account, gpusPerCell, parallel, time, sbatchArgs, setup (flags win)')
  .option('--dry-run', 'with --on slurm: write OUT/sweep.sbatch and OUT/collect.sbatch without submitting')
  .action(async (file: string | undefined, o) => {
    const { sweepCommand } = await import('./sweep.ts');
    const argv = process.argv.slice(process.argv.indexOf('sweep') + 1);
    process.exitCode = await sweepCommand(file, { ...o, sbatchArgs: o.sbatchArg, argv, registry: await pluginRegistry(o.plugin) });
  });

program
  .command('data')
  .description(
    'dry-run a dataset: items per split, open/closed counts, answer-list size, malformed items, missing and corrupt images; with --model-file, a few items as the model sees them',
  )
  .argument('<spec>', 'dataset: vqa-rad:PATH, slake:PATH, instruction:PATH')
  .option('--model-file <file.mile>', "show items tokenized and padded for this model's inputs")
  .option('--model <name>', 'model of --model-file when the file has several')
  .option('--vocab <path>', 'tokenizer vocabulary (vocab.txt or tokenizer.json), with --model-file')
  .option('--show <n>', 'items shown with --model-file', int('--show'), 3)
  .option('--seed <n>', 'seed of the training order the items are shown in', nonNegInt, 0)
  .option('--strict', 'a malformed item or corrupt image is an error instead of a reported, skipped item')
  .option('--json', 'print one JSON object')
  .action(async (spec: string, o) => {
    const { dataCommand } = await import('./data.ts');
    process.exitCode = dataCommand(spec, o);
  });

program
  .command('eval')
  .description(
    'generate answers with trained weights on WebGPU (or, for a classifier head — output answer_logits, input answer_class — take the argmax over the answer list); print open, closed and global accuracy',
  )
  .argument('<file>', '.mile file')
  .option('--checkpoint <path>', 'weights saved by milec train (adapter.safetensors, or its run folder)')
  .option('--adapter <dir>', 'an adapter folder (peft adapter_config.json + adapter_model.safetensors) instead of --checkpoint')
  .option(
    '--weights <path[@prefix],...>',
    "with --adapter: the backbone it was trained on (default: the model's weights { } block; none: random values)",
  )
  .option('--weights-map <name>', 'with --weights: the name mapping of the file (hf-bert, timm-vit, hf-vit, blip, none)')
  .requiredOption(
    '--data <spec>',
    'dataset: synthetic-vqa[:N], synthetic-instruction[:N], vqa-rad:PATH, slake:PATH, instruction:PATH, items:PATH.json',
  )
  .option('--vocab <path>', 'tokenizer vocabulary (vocab.txt or tokenizer.json) for vqa-rad/slake/instruction data')
  .option('--strict', 'a malformed data item is an error instead of a reported, skipped item')
  .option('--tune <name>', 'tune the weights were trained with (default: what the checkpoint or a milec-format adapter records)')
  .option('--model <name>', 'model to evaluate when the file has several')
  .option('--beams <n>', 'beam width (1: greedy; ignored for a classifier head)', int('--beams'), 3)
  .option('--max-len <n>', 'most answer tokens generated (ignored for a classifier head)', int('--max-len'), 10)
  .option('--batch <n>', 'items per forward (rows = items × beams)', int('--batch'), 8)
  .option('--seed <n>', 'seed of the initial weights, when the checkpoint does not record it', nonNegInt)
  .option('--dim <name=size...>', 'bind a symbolic size other than B, e.g. --dim T=128')
  .option(
    '--rank-closed',
    'answer CLOSED questions by ranking the distinct closed answers with the decoder (an error for a classifier head)',
  )
  .option('--json', 'print one JSON object {open, closed, global, n, nOpen, nClosed}')
  .option('--predictions <out.jsonl>', 'write one JSON line per item (id, question, answer, prediction, correct)')
  .option('--software', 'use the software (CPU) adapter even when a GPU is present')
  .option('--plugin <file.ts>', 'load the PEFT methods a TypeScript file exports (repeatable)', collect, [])
  .action(async (file: string, o) => {
    // Loaded on use, like train: it brings in Dawn.
    const { evalCommand } = await import('./eval.ts');
    process.exitCode = await evalCommand(file, { ...o, registry: await pluginRegistry(o.plugin) });
  });

program
  .command('fmt')
  .description('rewrite .mile files in the canonical layout; --check lists the files it would change (exit 1)')
  .argument('[paths...]', '.mile files or folders (searched recursively; default: the current folder); - reads standard input')
  .option('--check', 'write nothing; list unformatted files with a diff and exit 1 if there is one')
  .option('--stdout', 'print the formatted text instead of writing the files')
  .option('--exclude <path>', 'leave this file or folder out of the folder search (repeatable)', collect, [])
  .option(
    '--width <n>',
    "split lines longer than n characters: before a top-level + - and or, else at their widest (...) list (default: keep the author's line breaks)",
    int('--width'),
  )
  .action(async (paths: string[], o: { check?: boolean; stdout?: boolean; width?: number; exclude: string[] }) => {
    const { fmtCommand } = await import('./fmt.ts');
    process.exitCode = await fmtCommand(paths, o);
  });

// `milec compile … --emit ir | head` closes the pipe early: that is not an error.
process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code === 'EPIPE') process.exit(0);
  throw e;
});

try {
  await program.parseAsync(process.argv);
} catch (e) {
  if (e instanceof CommanderError) {
    // commander has already printed its message; --help and --version exit 0.
    process.exitCode = e.exitCode === 0 ? 0 : 2;
  } else if (e instanceof UserError) {
    process.stderr.write(`error: ${e.message}\n`);
    process.exitCode = 1;
  } else {
    process.stderr.write(
      `internal error: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\nThis is a bug in milec; please report it with the input that caused it.\n`,
    );
    process.exitCode = 70;
  }
}
