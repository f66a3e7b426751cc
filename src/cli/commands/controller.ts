// `vmflow controller start|stop`: tells every environment the controller started, or is about to
// stop, so container kinds can re-register or drain (afterControllerStart / beforeControllerStop).
import { Command } from 'commander';
import { withApi } from '../context';
import { follow } from '../follow';
import { printTable, withOutput, type OutputOptions, isStructured, printData } from '../output';
import type { Accepted } from '../resources';

export function controllerCommands(): Command {
  const cmd = new Command('controller').description('controller lifecycle events for every environment');
  for (const [name, event] of [
    ['start', 'afterControllerStart'],
    ['stop', 'beforeControllerStop'],
  ] as const) {
    withOutput(cmd.command(name).description(`run ${event} in every environment and wait for it`)).action(async (o: OutputOptions) =>
      withApi(async (api) => {
        const { items } = await api.post<{ items: Accepted[] }>(`/v1/controller/${name}`);
        const ended = await Promise.all(items.map((a) => follow(api, a.workflowId, { quiet: true }, false)));
        const rows = items.map((a, i) => [a.target, ended[i]!.status === 'COMPLETED' ? 'done' : `failed: ${ended[i]!.error?.message ?? ended[i]!.status.toLowerCase()}`, a.workflowId]);
        if (isStructured(o)) printData(o, rows.map(([environment, outcome, workflowId]) => ({ environment, outcome, workflowId })));
        else printTable(['ENVIRONMENT', 'OUTCOME', 'WORKFLOW'], rows);
        if (ended.some((c) => c.status !== 'COMPLETED')) process.exitCode = 2;
      }),
    );
  }
  return cmd;
}
