// `vmflow commands`: find commands through Temporal's visibility (search attributes), show one
// with its progress, cancel it, change a pending migration's target — all through the API.
import { Command, Option } from 'commander';
import { commandPath } from '../api-client';
import { reportCommand, withApi, type SubmitOptions } from '../context';
import { commandError, follow } from '../follow';
import { age, flag, printFields, printJson, printTable, withOutput, type OutputOptions } from '../output';
import type { CommandResource, List } from '../resources';

function duration(from: string, to?: string): string {
  const ms = (to ? Date.parse(to) : Date.now()) - Date.parse(from);
  return ms < 10_000 ? `${(ms / 1000).toFixed(1)}s` : age(new Date(Date.now() - ms).toISOString());
}

/** The API's spelling of each `--status` choice (Temporal's execution statuses). */
const STATUS = { running: 'Running', completed: 'Completed', failed: 'Failed', canceled: 'Canceled', terminated: 'Terminated', timedout: 'TimedOut' } as const;

export function commandCommands(): Command {
  const cmd = new Command('commands').alias('cmd').description('commands: each one a Temporal workflow');

  withOutput(
    cmd
      .command('list')
      .description('list commands, newest first (Temporal visibility: VmflowContainer, VmflowEnvironment, VmflowHypervisor, VmflowCommand)')
      .option('--container <name>', 'of this container')
      .option('--environment <name>', 'of this environment')
      .option('--hypervisor <name>', 'that touched this host')
      .option('--command <type>', 'of this type: migrate, create, ..., environment.start')
      .addOption(new Option('--status <status>', 'in this state').choices(Object.keys(STATUS)))
      .option('--limit <n>', 'at most this many', flag.integer('--limit', 1), 50),
  ).action(async (o: OutputOptions & { container?: string; environment?: string; hypervisor?: string; command?: string; status?: keyof typeof STATUS; limit: number }) =>
    withApi(async (api) => {
      const { items } = await api.get<List<CommandResource>>('/v1/commands', {
        container: o.container,
        environment: o.environment,
        hypervisor: o.hypervisor,
        command: o.command,
        status: o.status ? STATUS[o.status] : undefined,
        limit: o.limit,
      });
      if (o.output === 'json') return printJson(items);
      printTable(
        ['WORKFLOW ID', 'COMMAND', 'TARGET', 'STATUS', 'STARTED', 'TOOK', 'HOSTS', 'SUMMARY'],
        items.map((c) => [
          c.workflowId,
          c.command,
          `${c.kind === 'environment' ? 'env/' : ''}${c.target.name}`,
          c.status.toLowerCase(),
          `${age(c.startedAt)} ago`,
          duration(c.startedAt, c.closedAt),
          c.hosts?.map((h) => h.name).join(','),
          c.summary,
        ]),
      );
    }),
  );

  withOutput(cmd.command('show <workflow-id>').description('one command: status, progress, result or error').option('-w, --wait', 'follow it to its end')).action(
    async (workflowId: string, o: SubmitOptions) =>
      withApi(async (api) => {
        if (o.wait) {
          const info = await api.get<CommandResource>(commandPath(workflowId));
          if (o.output !== 'json') process.stdout.write(`${info.kind} ${info.target.name}: ${info.command} (${info.status.toLowerCase()})\n  Web UI    ${info.webUi}\n`);
          await follow(api, workflowId, { quiet: o.output === 'json' });
        }
        const info = await api.get<CommandResource>(commandPath(workflowId));
        if (o.output === 'json') return printJson(info);
        printFields([
          ['workflow', info.workflowId],
          ['command', `${info.command} ${info.kind} ${info.target.name}`],
          ['status', info.status.toLowerCase()],
          ['summary', info.summary],
          ['requested by', info.requestedBy],
          ['started', info.startedAt],
          ['closed', info.closedAt],
          ['hosts', info.hosts?.map((h) => h.name).join(', ')],
          ...(info.progress ? ([['phase', info.progress.phase], ['step', info.progress.step], ['steps done', info.progress.stepsDone.join(' → ')]] as Array<[string, unknown]>) : []),
          ...(info.result ? ([['steps', ((info.result as { steps?: string[] }).steps ?? []).join(' → ')], ['state after', (info.result as { state?: string }).state]] as Array<[string, unknown]>) : []),
          ...(info.error ? ([['error', `${info.error.code}: ${info.error.message}`]] as Array<[string, unknown]>) : []),
          ['Web UI', info.webUi],
        ]);
        if (info.error) process.exitCode = 1;
      }),
  );

  withOutput(cmd.command('cancel <workflow-id>').description('cancel a command: a queued one leaves the queue, a running one is undone').option('-w, --wait', 'wait until it is undone')).action(
    async (workflowId: string, o: SubmitOptions) =>
      withApi(async (api) => {
        await api.post(`${commandPath(workflowId)}/cancel`);
        if (!o.wait) {
          if (o.output === 'json') return printJson({ workflowId, status: 'cancel requested' });
          process.stdout.write(`cancel requested for ${workflowId}\n`);
          return;
        }
        const after = await follow(api, workflowId, { quiet: true }, false);
        if (after.status !== 'CANCELLED' && after.status !== 'COMPLETED' && after.error?.code !== 'CANCELLED') throw commandError(after);
        if (o.output === 'json') return printJson(after);
        process.stdout.write(`${workflowId}: ${after.status.toLowerCase()}${after.error ? ` (${after.error.message})` : ''}\n`);
      }),
  );

  withOutput(
    cmd
      .command('modify <workflow-id>')
      .description("change a pending migration's target, before it has claimed capacity")
      .option('--target <hypervisor>', 'the new target; left out, the allocator chooses')
      .option('-w, --wait', 'follow it to its end'),
  ).action(async (workflowId: string, o: SubmitOptions & { target?: string }) =>
    withApi(async (api) => {
      const out = await api.post<{ workflowId: string; target: string | null }>(`${commandPath(workflowId)}/modify`, o.target ? { target: o.target } : {});
      if (o.output !== 'json') process.stdout.write(`${workflowId}: target is now ${out.target ?? 'chosen by the allocator'}\n`);
      if (o.wait) {
        const c = await api.get<CommandResource>(commandPath(workflowId));
        return reportCommand(api, { commandId: c.commandId, workflowId, command: c.command, target: c.target.name, href: c.href, webUi: c.webUi }, o);
      }
      if (o.output === 'json') printJson({ workflowId, target: out.target });
    }),
  );

  return cmd;
}
