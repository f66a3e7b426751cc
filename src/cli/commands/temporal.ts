// `vmflow temporal setup`: prepares an existing Temporal cluster for vmflow — its namespace with
// the retention given, and vmflow's search attributes. Talks to Temporal directly (like a worker),
// not to the REST API; running it again changes nothing that is already right.
import { Command } from 'commander';
import { loadConfig } from '../../config';
import { InvalidInputError } from '../../domain/errors';
import { parseRetention } from '../../temporal/retention';
import { isStructured, printData, withOutput, type OutputOptions } from '../output';

interface SetupFlags extends OutputOptions {
  readonly address?: string;
  readonly namespace?: string;
  readonly retention?: number;
}

function retention(raw: string): number {
  const seconds = parseRetention(raw);
  if (seconds === undefined) throw new InvalidInputError([{ field: '--retention', problem: `must be a duration such as 7d, 72h or 2w, not "${raw}"` }], 'flags');
  return seconds;
}

export function temporalCommands(): Command {
  const cmd = new Command('temporal').description('the Temporal cluster vmflow runs on');
  withOutput(
    cmd
      .command('setup')
      .description("create vmflow's namespace (with its retention) and register vmflow's search attributes; safe to run again")
      .option('--address <host:port>', 'Temporal frontend (default VMFLOW_TEMPORAL_ADDRESS)')
      .option('--namespace <name>', 'namespace (default VMFLOW_NAMESPACE)')
      .option('--retention <duration>', 'how long closed workflows are kept: 7d, 72h, 2w (default 7d for a new namespace; an existing one keeps its own unless given)', retention),
  ).action(async (o: SetupFlags) => {
    const config = loadConfig();
    const address = o.address ?? config.temporalAddress;
    const namespace = o.namespace ?? config.namespace;
    const { connectTemporal } = await import('../../temporal/connection');
    const { setupCluster } = await import('../../temporal/setup');
    // TLS and API key as every other connection (VMFLOW_TEMPORAL_TLS_*, VMFLOW_TEMPORAL_API_KEY).
    const connection = await connectTemporal({ ...config, temporalAddress: address });
    try {
      const report = await setupCluster(connection, { namespace, retentionSeconds: o.retention, log: isStructured(o) ? undefined : (line) => process.stdout.write(`${line}\n`) });
      if (isStructured(o)) printData(o, { address, ...report });
      else process.stdout.write(`Temporal at ${address} is ready for vmflow (namespace ${namespace}).\n`);
    } finally {
      await connection.close();
    }
  });
  return cmd;
}
