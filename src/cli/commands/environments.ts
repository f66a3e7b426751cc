// `vmflow environments`: groups of containers and their commands.
import { Command } from 'commander';
import type { EnvironmentArgs, NewMember } from '../../domain/environments';
import { InvalidInputError } from '../../domain/errors';
import { seg } from '../api-client';
import { reportCommand, withApi, type SubmitOptions } from '../context';
import { watching, withWatch, type WatchOptions } from '../watch';
import { addEvents } from '../events';
import type { Accepted, EnvironmentResource, List } from '../resources';
import { age, flag, printFields, printTable, withOutput, type OutputOptions, isStructured, printData } from '../output';

function submitting(cmd: Command): Command {
  return withOutput(cmd.option('-w, --wait', 'follow it to its end, showing its steps'));
}

export function environmentCommands(): Command {
  const cmd = new Command('environments').alias('env').description('groups of containers that work together');

  withWatch(withOutput(cmd.command('list').description('list environments'))).action(async (o: OutputOptions & WatchOptions) =>
    watching(o, () => withApi(async (api) => {
      const envs: EnvironmentResource[] = [];
      // Paged by the API: read every page.
      for (let offset = 0; ; ) {
        const page = await api.get<List<EnvironmentResource>>('/v1/environments', { limit: 1000, offset });
        envs.push(...page.items);
        offset += page.items.length;
        if (!page.items.length || offset >= (page.total ?? 0)) break;
      }
      if (isStructured(o)) return printData(o, envs);
      const wide = o.output === 'wide';
      printTable(
        ['NAME', 'STATE', 'MEMBERS', 'DESCRIPTION', 'AGE', ...(wide ? ['ANTI-AFFINITY', 'ID'] : [])],
        envs.map((e) => {
          const row = [e.name, e.state, ((e.metadata['vmflow.members'] as unknown[]) ?? []).length, e.definition.description, age(e.createdAt)];
          return wide ? [...row, e.definition.antiAffinity ?? false, e.id] : row;
        }),
      );
    })),
  );

  withOutput(cmd.command('show <environment>').alias('get').description('one environment and its members, lowest priority first')).action(async (name: string, o: OutputOptions) =>
    withApi(async (api) => {
      const env = await api.get<EnvironmentResource>(`/v1/environments/${seg(name)}`);
      const members = env.members.items ?? [];
      if (isStructured(o)) return printData(o, { ...env, members });
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
        members.map((m) => [m.name, m.kind, m.priority, m.state, m.host?.name, m.ip]),
      );
    }),
  );

  addEvents(cmd, 'environments', 'environment');

  submitting(
    cmd
      .command('create <environment>')
      .description('create an environment')
      .option('--description <text>', 'what it is for')
      .option('--anti-affinity', 'keep its members on different hosts')
      .option('--member <name:kind:cpus:memory:disk[@host]>', 'a new member, repeatable; the members are placed all or nothing', collectMember, []),
  ).action(async (name: string, o: SubmitOptions & { description?: string; antiAffinity?: boolean; member: NewMember[] }) =>
    withApi(async (api) =>
      reportCommand(
        api,
        await api.post<Accepted>('/v1/environments', {
          name,
          ...(o.description ? { description: o.description } : {}),
          ...(o.antiAffinity ? { antiAffinity: true } : {}),
          ...(o.member.length ? { members: o.member } : {}),
        }),
        o,
      ),
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
      withApi(async (api) => {
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
        await reportCommand(api, await api.post<Accepted>(`/v1/environments/${seg(env)}/members`, args), o);
      }),
  );

  submitting(cmd.command('remove <environment> <container>').description('remove a member').option('--destroy', 'destroy the container too')).action(
    async (env: string, container: string, o: SubmitOptions & { destroy?: boolean }) =>
      withApi(async (api) => reportCommand(api, await api.delete<Accepted>(`/v1/environments/${seg(env)}/members/${seg(container)}`, { destroy: o.destroy }), o)),
  );

  for (const [command, what] of [
    ['start', 'start every member, in priority order'],
    ['stop', 'stop every member, in reverse priority order'],
    ['suspend', 'suspend every member'],
    ['resume', 'resume every member'],
    ['destroy', 'destroy the environment and its members'],
  ] as const) {
    submitting(cmd.command(`${command} <environment>`).description(what)).action(async (env: string, o: SubmitOptions) =>
      withApi(async (api) =>
        reportCommand(api, command === 'destroy' ? await api.delete<Accepted>(`/v1/environments/${seg(env)}`) : await api.post<Accepted>(`/v1/environments/${seg(env)}/${command}`), o),
      ),
    );
  }

  submitting(cmd.command('down <environment> <container>').description('mark a member down and run the isDown hooks').requiredOption('--cause <text>', 'why it is down')).action(
    async (env: string, container: string, o: SubmitOptions & { cause: string }) => withApi(async (api) => reportCommand(api, await api.post<Accepted>(`/v1/environments/${seg(env)}/members/${seg(container)}/down`, { cause: o.cause }), o)),
  );

  submitting(cmd.command('up <environment> <container>').description('mark a member up again and run the isUp hooks')).action(async (env: string, container: string, o: SubmitOptions) =>
    withApi(async (api) => reportCommand(api, await api.post<Accepted>(`/v1/environments/${seg(env)}/members/${seg(container)}/up`), o)),
  );

  return cmd;
}

/** `web1:web:1:1024:10@hv-2`: a new member's name, kind, cpus, memory in MiB, disk in GiB and, optionally, its host. */
function collectMember(value: string, members: NewMember[]): NewMember[] {
  const [spec, hint, ...extra] = value.split('@');
  const parts = spec!.split(':');
  const [name, kind, cpus, memory, disk] = parts;
  const numbers = [cpus, memory, disk].map(Number);
  if (extra.length || parts.length !== 5 || !name || !kind || numbers.some((n) => !Number.isInteger(n) || n < 1) || hint === '') {
    throw new InvalidInputError([{ field: '--member', problem: `${value} is not name:kind:cpus:memory:disk[@host] (memory in MiB, disk in GiB, whole numbers)` }], 'flags');
  }
  return [...members, { name, definition: { kind, cpus: numbers[0]!, memoryMiB: numbers[1]!, diskGiB: numbers[2]! }, ...(hint ? { hint } : {}) }];
}
