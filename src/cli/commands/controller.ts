// `vmflow controller start|stop`: tells every environment the controller started, or is about to
// stop, so container kinds can re-register or drain (afterControllerStart / beforeControllerStop).
import { Command } from 'commander';
import { withClient } from '../context';
import { printJson, printTable, withOutput, type OutputOptions } from '../output';

export function controllerCommands(): Command {
  const cmd = new Command('controller').description('controller lifecycle events for every environment');
  for (const [name, event] of [
    ['start', 'afterControllerStart'],
    ['stop', 'beforeControllerStop'],
  ] as const) {
    withOutput(cmd.command(name).description(`run ${event} in every environment and wait for it`)).action(async (o: OutputOptions) =>
      withClient(async (client) => {
        const handles = await client.environments.controller(event);
        const results = await Promise.allSettled(handles.map((h) => h.result()));
        const rows = handles.map((h, i) => [h.target, results[i]!.status === 'fulfilled' ? 'done' : `failed: ${(results[i] as PromiseRejectedResult).reason?.message ?? ''}`, h.workflowId]);
        if (o.output === 'json') printJson(rows.map(([environment, outcome, workflowId]) => ({ environment, outcome, workflowId })));
        else printTable(['ENVIRONMENT', 'OUTCOME', 'WORKFLOW'], rows);
        if (results.some((r) => r.status === 'rejected')) process.exitCode = 2;
      }),
    );
  }
  return cmd;
}
