// `vmflow commands`: find commands through Temporal's visibility (search attributes), show one
// with its progress, cancel it, change a pending migration's target.
import { Command, Option } from 'commander';
import { InvalidTransitionError } from '../../domain/errors';
import { follow, webUiLink } from '../follow';
import { reportCommand, withClient, type SubmitOptions } from '../context';
import { age, flag, printFields, printJson, printTable, withOutput, type OutputOptions } from '../output';

function duration(from: string, to?: string): string {
  const ms = (to ? Date.parse(to) : Date.now()) - Date.parse(from);
  return ms < 10_000 ? `${(ms / 1000).toFixed(1)}s` : age(new Date(Date.now() - ms).toISOString());
}

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
      .addOption(new Option('--status <status>', 'in this state').choices(['running', 'completed', 'failed', 'canceled', 'terminated', 'timedout']))
      .option('--limit <n>', 'at most this many', flag.integer('--limit', 1), 50),
  ).action(async (o: OutputOptions & { container?: string; environment?: string; hypervisor?: string; command?: string; status?: string; limit: number }) =>
    withClient(async (client) => {
      const list = await client.commands.list({ container: o.container, environment: o.environment, hypervisor: o.hypervisor, command: o.command, status: o.status, limit: o.limit });
      if (o.output === 'json') return printJson(list);
      printTable(
        ['WORKFLOW ID', 'COMMAND', 'TARGET', 'STATUS', 'STARTED', 'TOOK', 'HOSTS', 'SUMMARY'],
        list.map((c) => [c.workflowId, c.command, `${c.kind === 'environment' ? 'env/' : ''}${c.target}`, c.status.toLowerCase(), `${age(c.startedAt)} ago`, duration(c.startedAt, c.closedAt), c.hosts?.join(','), c.summary]),
      );
    }),
  );

  withOutput(cmd.command('show <workflow-id>').description('one command: status, progress, result or error').option('-w, --wait', 'follow it to its end')).action(
    async (workflowId: string, o: SubmitOptions) =>
      withClient(async (client, config) => {
        const handle = client.commands.handle(workflowId);
        if (o.wait) {
          const info = await handle.describe();
          if (o.output !== 'json') process.stdout.write(`${info.kind} ${info.target}: ${info.command} (${info.status.toLowerCase()})\n  Web UI    ${webUiLink(config.webUiUrl, config.namespace, workflowId)}\n`);
          await follow(handle, { webUiUrl: config.webUiUrl, namespace: config.namespace, quiet: o.output === 'json' });
        }
        const info = await handle.describe();
        if (o.output === 'json') return printJson({ ...info, webUi: webUiLink(config.webUiUrl, config.namespace, workflowId) });
        printFields([
          ['workflow', info.workflowId],
          ['command', `${info.command} ${info.kind} ${info.target}`],
          ['status', info.status.toLowerCase()],
          ['summary', info.summary],
          ['requested by', info.requestedBy],
          ['started', info.startedAt],
          ['closed', info.closedAt],
          ['hosts', info.hosts?.join(', ')],
          ...(info.progress ? ([['phase', info.progress.phase], ['step', info.progress.step], ['steps done', info.progress.stepsDone.join(' → ')]] as Array<[string, unknown]>) : []),
          ...(info.result ? ([['steps', ((info.result as { steps?: string[] }).steps ?? []).join(' → ')], ['state after', (info.result as { state?: string }).state]] as Array<[string, unknown]>) : []),
          ...(info.error ? ([['error', `${info.error.code}: ${info.error.message}`]] as Array<[string, unknown]>) : []),
          ['Web UI', webUiLink(config.webUiUrl, config.namespace, workflowId)],
        ]);
        if (info.error) process.exitCode = 1;
      }),
  );

  withOutput(cmd.command('cancel <workflow-id>').description('cancel a command: a queued one leaves the queue, a running one is undone').option('-w, --wait', 'wait until it is undone')).action(
    async (workflowId: string, o: SubmitOptions) =>
      withClient(async (client, config) => {
        const handle = client.commands.handle(workflowId);
        const info = await handle.describe();
        if (info.status !== 'RUNNING') throw new InvalidTransitionError('cancel', workflowId, info.status.toLowerCase(), `the command already ended: ${info.status.toLowerCase()}`);
        await handle.cancel();
        if (!o.wait) {
          if (o.output === 'json') return printJson({ workflowId, status: 'cancel requested' });
          process.stdout.write(`cancel requested for ${workflowId}\n`);
          return;
        }
        try {
          await handle.result();
        } catch (err) {
          if ((err as { code?: string }).code !== 'CANCELLED') throw err;
        }
        const after = await handle.describe();
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
    withClient(async (client, config) => {
      const handle = client.commands.handle(workflowId);
      if (o.target) await client.hypervisors.get(o.target);
      const out = await handle.modify(o.target ? { target: o.target } : {});
      if (o.output !== 'json') process.stdout.write(`${workflowId}: target is now ${out.target ?? 'chosen by the allocator'}\n`);
      if (o.wait) return reportCommand(handle, o, config);
      if (o.output === 'json') printJson({ workflowId, target: out.target ?? null });
    }),
  );

  return cmd;
}
