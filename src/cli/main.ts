// `vmflow` command line: the processes (dev, worker, api, sim, agent), loaded only when run, and a
// command for every operation, each a request to the REST API. Lists print aligned tables, `-o
// json|yaml` prints data, `--wait` follows a command to its end. Exit codes: 0 done, 2 a usage
// error or a refusal (the API answered 4xx), 1 a failure (a command that failed, the API not
// reached or failing).
import { Argument, Command, CommanderError } from 'commander';
import path from 'node:path';
import { loadConfig } from '../config';
import { VmflowError } from '../domain/errors';
import { ApiError } from './api-client';
import { completionScript } from './completion';
import { commandCommands } from './commands/commands';
import { containerCommands } from './commands/containers';
import { controllerCommands } from './commands/controller';
import { environmentCommands } from './commands/environments';
import { hypervisorCommands } from './commands/hypervisors';
import { keyCommands } from './commands/keys';
import { addSimAdmin } from './commands/sim';
import { temporalCommands } from './commands/temporal';
import { tokenCommands } from './commands/tokens';
import { flag } from './output';

const VERSION: string = require('../../package.json').version;

/** The long-running processes load the worker, API and sim only when one of them is run. */
const processes = () => import('./processes');

export function buildProgram(): Command {
  const program = new Command('vmflow')
    .description('cluster controller for hypervisors and their VMs, on Temporal')
    .version(VERSION, '-V, --version', 'print the version of vmflow')
    .showHelpAfterError();

  program
    .command('dev')
    .description('run everything on the embedded default: Temporal dev server + Web UI, sim farm, SQLite registry, worker, API (admin token in .vmflow/admin-token)')
    .action(async () => (await processes()).runDev(loadConfig()));

  program
    .command('worker')
    .description('run a worker: every workflow and the central activities (VMFLOW_WORKER_METRICS_PORT serves its Temporal SDK metrics to Prometheus)')
    .action(async () => (await processes()).runWorkerProcess(loadConfig()));

  program
    .command('api')
    .description('run the REST API (OpenAPI at /openapi.json, Prometheus at /metrics)')
    .option('--host <host>', 'address to listen on (default VMFLOW_API_HOST)')
    .option('--port <port>', 'port to listen on (default VMFLOW_API_PORT)', flag.integer('--port', 0))
    .action(async (o: { host?: string; port?: number }) => (await processes()).runApiProcess(loadConfig(), o));

  const sim = program
    .command('sim')
    .description('run the simulated hypervisor farm on one loopback port; with a subcommand, drive its admin API')
    .option('--port <port>', 'port (0 picks a free one)')
    .option('--state-dir <dir>', 'folder of the state file')
    .allowExcessArguments(false)
    .action(async (opts: { port?: string; stateDir?: string }) => {
      const config = loadConfig();
      await (await processes()).runSimProcess({ port: opts.port !== undefined ? Number(opts.port) : config.simPort, stateDir: opts.stateDir ?? path.join(config.dataDir, 'sim') });
    });
  addSimAdmin(sim);

  program
    .command('agent')
    .description('run on a hypervisor host: poll its own task queue and run its driver calls (libvirt) locally')
    .requiredOption('--host <name>', 'the hypervisor name it is registered under')
    .action(async (o: { host: string }) => {
      const c = loadConfig();
      const { runAgentProcess } = await import('../agent');
      await runAgentProcess({ ...c, host: o.host });
    });

  program.addCommand(hypervisorCommands());
  program.addCommand(containerCommands());
  program.addCommand(environmentCommands());
  program.addCommand(commandCommands());
  program.addCommand(keyCommands());
  program.addCommand(tokenCommands());
  program.addCommand(controllerCommands());

  program
    .command('completion')
    .description('print a shell completion script: source <(vmflow completion bash), or the same with zsh')
    .addArgument(new Argument('<shell>', 'bash or zsh').choices(['bash', 'zsh']))
    .action((shell: 'bash' | 'zsh') => {
      process.stdout.write(completionScript(program, shell));
    });

  // Usage errors (an unknown flag, a missing argument) exit 2 like refusals, from every subcommand.
  const everyCommand = (c: Command): Command[] => [c, ...(c.commands as Command[]).flatMap(everyCommand)];
  for (const c of everyCommand(program)) c.exitOverride();

  program.addCommand(temporalCommands());
  return program;
}

/**
 * The exit code of an error: 2 for a usage error or a refusal (bad input, a conflict, a state that
 * does not allow it, a missing token or role: the API's 4xx), 1 for a failure (a command that
 * ran and failed, the API unreachable or failing).
 */
export function exitCodeOf(err: unknown): number {
  if (err instanceof CommanderError) return err.exitCode === 0 ? 0 : 2;
  if (err instanceof ApiError) return err.status >= 400 && err.status < 500 ? 2 : 1;
  if (err instanceof VmflowError) return err.code === 'INVALID_INPUT' || err.code === 'NOT_FOUND' ? 2 : 1;
  return 1;
}

async function main(): Promise<void> {
  try {
    await buildProgram().parseAsync(process.argv);
  } catch (err) {
    process.exitCode = exitCodeOf(err);
    // Commander has printed its own usage errors (and help or the version).
    if (!(err instanceof CommanderError)) {
      const cause = (err as { cause?: { message?: string } })?.cause?.message;
      console.error(`vmflow: ${err instanceof Error ? err.message : String(err)}${cause && !(err instanceof ApiError) ? ` (${cause})` : ''}`);
    }
  }
  // Whatever a process command opened is closed by now; nothing left needs the loop.
  process.exit();
}

if (require.main === module) void main();
