// `vmflow environments`: groups of containers and their commands.
import { Command } from 'commander';
import type { EnvironmentArgs } from '../../domain/environments';
import { InvalidInputError } from '../../domain/errors';
import { reportCommand, withClient, type SubmitOptions } from '../context';
import { age, flag, printFields, printJson, printTable, withOutput, type OutputOptions } from '../output';

function submitting(cmd: Command): Command {
  return withOutput(cmd.option('-w, --wait', 'follow it to its end, showing its steps'));
}

export function environmentCommands(): Command {
  const cmd = new Command('environments').alias('env').description('groups of containers that work together');

  withOutput(cmd.command('list').description('list environments')).action(async (o: OutputOptions) =>
    withClient(async (client) => {
      const envs = await client.environments.list();
      if (o.output === 'json') return printJson(envs);
      printTable(
        ['NAME', 'STATE', 'MEMBERS', 'DESCRIPTION', 'AGE'],
        envs.map((e) => [e.name, e.state, ((e.metadata['vmflow.members'] as unknown[]) ?? []).length, e.definition.description, age(e.createdAt)]),
      );
    }),
  );

  withOutput(cmd.command('show <environment>').description('one environment and its members, lowest priority first')).action(async (name: string, o: OutputOptions) =>
    withClient(async (client) => {
      const [env, members] = await Promise.all([client.environments.get(name), client.environments.members(name)]);
      if (o.output === 'json') return printJson({ ...env, members });
      printFields([
        ['name', env.name],
        ['id', env.id],
        ['state', env.state],
        ['description', env.definition.description],
        ['anti-affinity', env.definition.antiAffinity ?? false],
        ['created', env.createdAt],
      ]);
      process.stdout.write('\n');
      printTable(
        ['MEMBER', 'KIND', 'PRIORITY', 'STATE', 'HOST', 'IP'],
        members.map((m) => [m.name, m.kind, m.priority, m.state, m.host, m.ip]),
      );
    }),
  );

  submitting(
    cmd
      .command('create <environment>')
      .description('create an environment')
      .option('--description <text>', 'what it is for')
      .option('--anti-affinity', 'keep its members on different hosts'),
  ).action(async (name: string, o: SubmitOptions & { description?: string; antiAffinity?: boolean }) =>
    withClient(async (client, config) =>
      reportCommand(await client.environments.create(name, { ...(o.description ? { description: o.description } : {}), ...(o.antiAffinity ? { antiAffinity: true } : {}) }), o, config),
    ),
  );

  submitting(
    cmd
      .command('add <environment> [container]')
      .description('add an existing container, or a new one with --create <name> --kind --cpus --memory --disk')
      .option('--create <name>', 'create a new container as the member')
      .option('--kind <kind>', 'kind of the new container', 'generic')
      .option('--cpus <n>', 'cpus of the new container', flag.positive('--cpus'))
      .option('--memory <MiB>', 'memory of the new container', flag.positive('--memory'))
      .option('--disk <GiB>', 'disk of the new container', flag.positive('--disk'))
      .option('--image <image>', 'base image of the new container')
      .option('--hint <hypervisor>', 'place the new container on this host'),
  ).action(
    async (env: string, container: string | undefined, o: SubmitOptions & { create?: string; kind: string; cpus?: number; memory?: number; disk?: number; image?: string; hint?: string }) =>
      withClient(async (client, config) => {
        if (!!container === !!o.create) throw new InvalidInputError([{ field: 'container', problem: 'give either an existing container or --create <name>, not both' }], 'arguments');
        let args: EnvironmentArgs['add'];
        if (o.create) {
          const missing = (['cpus', 'memory', 'disk'] as const).filter((k) => o[k] === undefined);
          if (missing.length) throw new InvalidInputError(missing.map((k) => ({ field: `--${k}`, problem: 'is required with --create' })), 'flags');
          args = {
            create: {
              name: o.create,
              definition: { kind: o.kind, cpus: o.cpus!, memoryMiB: o.memory!, diskGiB: o.disk!, ...(o.image ? { image: o.image } : {}) },
              ...(o.hint ? { hint: o.hint } : {}),
            },
          };
        } else args = { container: container! };
        await reportCommand(await client.environments.add(env, args), o, config);
      }),
  );

  submitting(cmd.command('remove <environment> <container>').description('remove a member').option('--destroy', 'destroy the container too')).action(
    async (env: string, container: string, o: SubmitOptions & { destroy?: boolean }) =>
      withClient(async (client, config) => reportCommand(await client.environments.remove(env, container, o.destroy ? { destroy: true } : {}), o, config)),
  );

  for (const [command, what] of [
    ['start', 'start every member, in priority order'],
    ['stop', 'stop every member, in reverse priority order'],
    ['suspend', 'suspend every member'],
    ['resume', 'resume every member'],
    ['destroy', 'destroy the environment and its members'],
  ] as const) {
    submitting(cmd.command(`${command} <environment>`).description(what)).action(async (env: string, o: SubmitOptions) =>
      withClient(async (client, config) => reportCommand(await client.environments[command](env), o, config)),
    );
  }

  submitting(cmd.command('down <environment> <container>').description('mark a member down and run the isDown hooks').requiredOption('--cause <text>', 'why it is down')).action(
    async (env: string, container: string, o: SubmitOptions & { cause: string }) => withClient(async (client, config) => reportCommand(await client.environments.down(env, container, o.cause), o, config)),
  );

  submitting(cmd.command('up <environment> <container>').description('mark a member up again and run the isUp hooks')).action(async (env: string, container: string, o: SubmitOptions) =>
    withClient(async (client, config) => reportCommand(await client.environments.up(env, container), o, config)),
  );

  return cmd;
}
