// `vmflow` command line: the processes (dev, worker, api, sim, agent), loaded only when run, and a
// command for every operation, each a request to the REST API. Lists print aligned tables, `-o
// json` prints JSON, `--wait` follows a command to its end; a failure prints its message and
// exits non-zero.
import { Command } from 'commander';
import path from 'node:path';
import { loadConfig } from '../config';
import { VmflowError } from '../domain/errors';
import { ApiError } from './api-client';
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

/** The long-running processes load the worker, API and sim only when one of them is run. */
const processes = () => import('./processes');

export function buildProgram(): Command {
  const program = new Command('vmflow').description('cluster controller for hypervisors and their VMs, on Temporal').showHelpAfterError();

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
      await runAgentProcess({ temporalAddress: c.temporalAddress, namespace: c.namespace, host: o.host });
    });

  program.addCommand(hypervisorCommands());
  program.addCommand(containerCommands());
  program.addCommand(environmentCommands());
  program.addCommand(commandCommands());
  program.addCommand(keyCommands());
  program.addCommand(tokenCommands());
  program.addCommand(controllerCommands());
  program.addCommand(temporalCommands());
  return program;
}

async function main(): Promise<void> {
  try {
    await buildProgram().parseAsync(process.argv);
  } catch (err) {
    // An error vmflow names (a refusal, a failed command) exits 2; anything else, 1.
    const refused = err instanceof ApiError ? err.code !== 'UNREACHABLE' && err.code !== 'INTERNAL' : err instanceof VmflowError;
    const cause = (err as { cause?: { message?: string } })?.cause?.message;
    console.error(`vmflow: ${err instanceof Error ? err.message : String(err)}${cause && !refused ? ` (${cause})` : ''}`);
    process.exitCode = refused ? 2 : 1;
  }
  // Whatever a process command opened is closed by now; nothing left needs the loop.
  process.exit();
}

if (require.main === module) void main();
