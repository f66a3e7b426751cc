// `vmflow commands`: find commands through Temporal's visibility (search attributes), show one
// with its progress, cancel it, change a pending migration's target — all through the API.
import { Command, Option } from 'commander';
import { commandPath } from '../api-client';
import { reportCommand, withApi, type SubmitOptions } from '../context';
import { watching, withWatch, type WatchOptions } from '../watch';
import { commandError, follow } from '../follow';
import { age, flag, printFields, printTable, withOutput, type OutputOptions, isStructured, printData } from '../output';
import type { CommandResource, List } from '../resources';

function duration(from: string, to?: string): string {
  const ms = (to ? Date.parse(to) : Date.now()) - Date.parse(from);
  return ms < 10_000 ? `${(ms / 1000).toFixed(1)}s` : age(new Date(Date.now() - ms).toISOString());
}

/** The API's spelling of each `--status` choice (Temporal's execution statuses). */
const STATUS = { running: 'Running', completed: 'Completed', failed: 'Failed', cancelled: 'Cancelled', terminated: 'Terminated', timedout: 'TimedOut' } as const;

export function commandCommands(): Command {
  const cmd = new Command('commands').alias('cmd').description('commands: each one a Temporal workflow');

  const list = withOutput(
    cmd
      .command('list')
      .description('list commands, newest first (Temporal visibility: VmflowContainer, VmflowEnvironment, VmflowHypervisor, VmflowCommand)')
      .option('--container <name>', 'of this container')
      .option('--environment <name>', 'of this environment')
      .option('--hypervisor <name>', 'that touched this host')
      .option('--command <type>', 'of this type: migrate, create, ..., environment.start')
      .addOption(new Option('--status <status>', 'in this state').choices(Object.keys(STATUS)))
      .option('--limit <n>', 'at most this many', flag.integer('--limit', 1), 50),
  );
  withWatch(list).action(async (o: OutputOptions & WatchOptions & { container?: string; environment?: string; hypervisor?: string; command?: string; status?: keyof typeof STATUS; limit: number }) =>
    watching(o, () => withApi(async (api) => {
      const { items } = await api.get<List<CommandResource>>('/v1/commands', {
        container: o.container,
        environment: o.environment,
        hypervisor: o.hypervisor,
        command: o.command,
        status: o.status ? STATUS[o.status] : undefined,
        limit: o.limit,
      });
      if (isStructured(o)) return printData(o, items);
      const wide = o.output === 'wide';
      printTable(
        ['WORKFLOW ID', 'COMMAND', 'TARGET', 'STATUS', 'STARTED', 'TOOK', 'HOSTS', 'SUMMARY', ...(wide ? ['REQUESTED BY', 'STARTED AT', 'CLOSED AT'] : [])],
        items.map((c) => {
          const row = [
            c.workflowId,
            c.command,
            `${c.kind === 'environment' ? 'env/' : ''}${c.target.name}`,
            c.status.toLowerCase(),
            `${age(c.startedAt)} ago`,
            duration(c.startedAt, c.closedAt),
            c.hosts?.map((h) => h.name).join(','),
            c.summary,
          ];
          return wide ? [...row, c.requestedBy, c.startedAt, c.closedAt] : row;
        }),
      );
    })),
  );

  withOutput(cmd.command('show <workflow-id>').description('one command: status, progress, result or error').option('-w, --wait', 'follow it to its end')).action(
    async (workflowId: string, o: SubmitOptions) =>
      withApi(async (api) => {
        if (o.wait) {
          const info = await api.get<CommandResource>(commandPath(workflowId));
          if (!isStructured(o)) process.stdout.write(`${info.kind} ${info.target.name}: ${info.command} (${info.status.toLowerCase()})\n  Web UI    ${info.webUi}\n`);
          await follow(api, workflowId, { quiet: isStructured(o) });
        }
        const info = await api.get<CommandResource>(commandPath(workflowId));
        if (isStructured(o)) return printData(o, info);
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
          if (isStructured(o)) return printData(o, { workflowId, status: 'cancel requested' });
          process.stdout.write(`cancel requested for ${workflowId}\n`);
          return;
        }
        const after = await follow(api, workflowId, { quiet: true }, false);
        if (after.status !== 'CANCELLED' && after.status !== 'COMPLETED' && after.error?.code !== 'CANCELLED') throw commandError(after);
        if (isStructured(o)) return printData(o, after);
        process.stdout.write(`${workflowId}: ${after.status.toLowerCase()}${after.error ? ` (${after.error.message})` : ''}\n`);
      }),
  );

  withOutput(
    cmd
      .command('reorder <workflow-id>')
      .description("move a queued command (not yet running) in its container's or environment's queue; the new order must still be valid")
      .requiredOption('--position <n>', '0 = run it next, after the command that is running', flag.integer('--position', 0)),
  ).action(async (workflowId: string, o: OutputOptions & { position: number }) =>
    withApi(async (api) => {
      const out = await api.post<{ workflowId: string; queue: string[] }>(`${commandPath(workflowId)}/reorder`, { position: o.position });
      if (isStructured(o)) return printData(o, out);
      const at = out.queue.indexOf(workflowId.split('/').pop()!);
      process.stdout.write(`${workflowId}: now ${at + 1} of ${out.queue.length} in its queue\n  queue  ${out.queue.join(' → ')}\n`);
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
      if (!isStructured(o)) process.stdout.write(`${workflowId}: target is now ${out.target ?? 'chosen by the allocator'}\n`);
      if (o.wait) {
        const c = await api.get<CommandResource>(commandPath(workflowId));
        return reportCommand(api, { commandId: c.commandId, workflowId, command: c.command, target: c.target.name, href: c.href, webUi: c.webUi }, o);
      }
      if (isStructured(o)) printData(o, { workflowId, target: out.target });
    }),
  );

  return cmd;
}
