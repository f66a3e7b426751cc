// `vmflow` command line.
import { Command } from 'commander';
import path from 'node:path';
import { loadConfig } from '../config';
import { VmflowError } from '../domain/errors';
import { runDev, runSimProcess, runWorkerProcess } from './processes';

export function buildProgram(): Command {
  const program = new Command('vmflow').description('cluster controller for hypervisors and their VMs, on Temporal').showHelpAfterError();

  program
    .command('dev')
    .description('run everything on the embedded default: Temporal dev server + Web UI, sim farm, SQLite registry, worker')
    .action(async () => runDev(loadConfig()));

  program
    .command('worker')
    .description('run a worker: every workflow and the central activities')
    .action(async () => runWorkerProcess(loadConfig()));

  program
    .command('sim')
    .description('run the simulated hypervisor farm on one loopback port')
    .option('--port <port>', 'port (0 picks a free one)')
    .option('--state-dir <dir>', 'folder of the state file')
    .action(async (opts: { port?: string; stateDir?: string }) => {
      const config = loadConfig();
      await runSimProcess({ port: opts.port !== undefined ? Number(opts.port) : config.simPort, stateDir: opts.stateDir ?? path.join(config.dataDir, 'sim') });
    });

  return program;
}

async function main(): Promise<void> {
  try {
    await buildProgram().parseAsync(process.argv);
  } catch (err) {
    console.error(`vmflow: ${err instanceof Error ? err.message : String(err)}`);
    process.exitCode = err instanceof VmflowError ? 2 : 1;
  }
}

if (require.main === module) void main();
