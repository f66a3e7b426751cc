// `vmflow containers`: every container command, list and show.
import { Command } from 'commander';
import type { CreateArgs } from '../../domain/commands';
import { InvalidInputError } from '../../domain/errors';
import { META, type ContainerDefinition } from '../../domain/types';
import { seg } from '../api-client';
import { reportCommand, withApi, type SubmitOptions } from '../context';
import { watching, withWatch, type WatchOptions } from '../watch';
import { addEvents } from '../events';
import type { Accepted, ContainerResource, Page } from '../resources';
import { age, flag, printFields, printTable, withOutput, type OutputOptions, isStructured, printData } from '../output';

/** A container's queued and recent commands, from its entity. */
interface Queue {
  readonly queue?: Array<{ command: string; workflowId: string; running: boolean }>;
  readonly recent?: Array<{ command: string; workflowId: string; outcome: string; error?: string }>;
}

/** A command that submits: `--wait` and `-o`. */
function submitting(cmd: Command): Command {
  return withOutput(cmd.option('-w, --wait', 'follow it to its end, showing its steps'));
}

export function containerCommands(): Command {
  const cmd = new Command('containers').alias('ct').description('VMs and containers');

  const list = withOutput(
    cmd
      .command('list')
      .description('list containers')
      .option('--host <hypervisor>', 'only those on this host')
      .option('--state <state>', 'only those in this state')
      .option('--tag <key[=value]>', 'only those with this tag')
      .option('--limit <n>', 'at most this many', flag.integer('--limit', 1), 500),
  );
  withWatch(list).action(async (o: OutputOptions & WatchOptions & { host?: string; state?: string; tag?: string; limit: number }) =>
    watching(o, () => withApi(async (api) => {
      // Page after page (at most 1,000 each) until the limit or the last page.
      const items: ContainerResource[] = [];
      let pageToken: string | undefined;
      do {
        const limit = Math.min(1000, o.limit - items.length);
        const page = await api.get<Page<ContainerResource>>('/v1/containers', { host: o.host, state: o.state, tag: o.tag, limit, pageToken });
        items.push(...page.items);
        pageToken = page.nextPageToken;
      } while (pageToken && items.length < o.limit);
      if (isStructured(o)) return printData(o, items);
      const wide = o.output === 'wide';
      printTable(
        ['NAME', 'STATE', 'HOST', 'KIND', 'CPUS', 'MEMORY MiB', 'DISK GiB', 'IP', 'AGE', ...(wide ? ['ENVIRONMENT', 'MAC', 'IMAGE', 'ID', 'STATE CAUSE'] : [])],
        items.map((c) => {
          const d = c.definition as ContainerDefinition;
          const row = [c.name, c.state, c.parent?.name, d.kind, d.cpus, d.memoryMiB, d.diskGiB, d.network?.ip, age(c.createdAt)];
          return wide ? [...row, c.environment?.name, d.network?.mac, d.image, c.id, c.metadata[META.stateCause]] : row;
        }),
      );
    })),
  );

  withOutput(cmd.command('show <container>').alias('get').description('one container, with its queued and recent commands')).action(async (name: string, o: OutputOptions) =>
    withApi(async (api) => {
      const c = await api.get<ContainerResource>(`/v1/containers/${seg(name)}`);
      const queue = await api.get<Queue>(`/v1/containers/${seg(c.id)}/queue`).catch(() => undefined);
      if (isStructured(o)) return printData(o, { ...c, host: c.parent?.name ?? null, commands: queue ?? null });
      const d = c.definition as ContainerDefinition;
      printFields([
        ['name', c.name],
        ['id', c.id],
        ['state', c.state],
        ['host', c.parent?.name],
        ['kind', d.kind],
        ['resources', `${d.cpus} cpus, ${d.memoryMiB} MiB, ${d.diskGiB} GiB`],
        ['ip', d.network?.ip],
        ['mac', d.network?.mac],
        ['image', d.image],
        ['keys', c.keys.join(' ')],
        ['tags', c.tags],
        ['last command', c.metadata[META.lastCommand]],
        ['state cause', c.metadata[META.stateCause]],
        ['created', c.createdAt],
        ['updated', c.updatedAt],
      ]);
      const q = queue;
      const rows = [
        ...(q?.queue ?? []).map((x) => [x.command, x.running ? 'running' : 'queued', x.workflowId, '']),
        ...(q?.recent ?? [])
          .slice(-10)
          .reverse()
          .map((x) => [x.command, x.outcome, x.workflowId, x.error ?? '']),
      ];
      if (rows.length) {
        process.stdout.write('\n');
        printTable(['COMMAND', 'STATUS', 'WORKFLOW', 'ERROR'], rows);
      }
    }),
  );

  addEvents(cmd, 'containers', 'container');

  submitting(
    cmd
      .command('create <name>')
      .description('create a container: reserve its keys, claim capacity, define, provision and start it')
      .requiredOption('--kind <kind>', 'its role: web, db, balancer, generic, ...', 'generic')
      .requiredOption('--cpus <n>', 'cpus', flag.positive('--cpus'))
      .requiredOption('--memory <MiB>', 'memory in MiB', flag.positive('--memory'))
      .requiredOption('--disk <GiB>', 'disk in GiB', flag.positive('--disk'))
      .option('--image <image>', 'base image of its disk')
      .option('--ip <ip>', 'its address; allocated from the pool when left out')
      .option('--mac <mac>', 'its MAC; derived from the ip when left out')
      .option('--bridge <bridge>', 'network bridge')
      .option('--hint <hypervisor>', 'place it on this host')
      .option('--group <group>', 'affinity group')
      .option('--require <key=value>', 'a label its host must carry (repeatable)', flag.pairs('--require'))
      .option('--tag <key=value>', 'a tag (repeatable)', flag.pairs('--tag'))
      .option('--no-start', 'leave it stopped once built'),
  ).action(
    async (
      name: string,
      o: SubmitOptions & { kind: string; cpus: number; memory: number; disk: number; image?: string; ip?: string; mac?: string; bridge?: string; hint?: string; group?: string; require?: Record<string, string>; tag?: Record<string, string>; start: boolean },
    ) =>
      withApi(async (api) => {
        const network = { ...(o.ip ? { ip: o.ip } : {}), ...(o.mac ? { mac: o.mac } : {}), ...(o.bridge ? { bridge: o.bridge } : {}) };
        const args: CreateArgs = {
          definition: {
            kind: o.kind,
            cpus: o.cpus,
            memoryMiB: o.memory,
            diskGiB: o.disk,
            ...(Object.keys(network).length ? { network } : {}),
            ...(o.image ? { image: o.image } : {}),
            ...(o.require ? { requires: o.require } : {}),
            ...(o.group ? { group: o.group } : {}),
          } as CreateArgs['definition'],
          ...(o.tag ? { tags: o.tag } : {}),
          ...(o.hint ? { hint: o.hint } : {}),
          start: o.start,
        };
        await reportCommand(api, await api.post<Accepted>('/v1/containers', { name, ...args }), o);
      }),
  );

  for (const [command, what] of [
    ['start', 'start a stopped container'],
    ['stop', 'power a container off'],
    ['reboot', 'reboot a running container'],
    ['suspend', 'suspend a running container'],
    ['resume', 'resume a suspended container'],
    ['destroy', 'destroy a container: remove it from its host, release its keys'],
    ['reconcile', 'ask every host where a container is and make the registry follow (clears unknown and missing)'],
  ] as const) {
    submitting(cmd.command(`${command} <container>`).description(what)).action(async (name: string, o: SubmitOptions) =>
      withApi(async (api) =>
        reportCommand(api, command === 'destroy' ? await api.delete<Accepted>(`/v1/containers/${seg(name)}`) : await api.post<Accepted>(`/v1/containers/${seg(name)}/${command}`), o),
      ),
    );
  }

  submitting(cmd.command('shutdown <container>').description('shut a container down gracefully').option('--timeout <ms>', 'power it off after this long', flag.integer('--timeout', 1))).action(
    async (name: string, o: SubmitOptions & { timeout?: number }) => withApi(async (api) => reportCommand(api, await api.post<Accepted>(`/v1/containers/${seg(name)}/shutdown`, o.timeout === undefined ? {} : { timeoutMs: o.timeout }), o)),
  );

  submitting(
    cmd
      .command('update <container>')
      .description("change a stopped container's resources or image")
      .option('--cpus <n>', 'cpus', flag.positive('--cpus'))
      .option('--memory <MiB>', 'memory in MiB', flag.positive('--memory'))
      .option('--disk <GiB>', 'disk in GiB', flag.positive('--disk'))
      .option('--image <image>', 'base image'),
  ).action(async (name: string, o: SubmitOptions & { cpus?: number; memory?: number; disk?: number; image?: string }) =>
    withApi(async (api) => {
      const definition = { ...(o.cpus ? { cpus: o.cpus } : {}), ...(o.memory ? { memoryMiB: o.memory } : {}), ...(o.disk ? { diskGiB: o.disk } : {}), ...(o.image ? { image: o.image } : {}) };
      if (!Object.keys(definition).length) throw new InvalidInputError([{ field: 'flags', problem: 'nothing to update: give --cpus, --memory, --disk or --image' }], 'update');
      await reportCommand(api, await api.post<Accepted>(`/v1/containers/${seg(name)}/update`, { definition }), o);
    }),
  );

  submitting(
    cmd
      .command('clone <container> <new-name>')
      .description('copy a stopped container under a new name, with its own ip and mac')
      .option('--ip <ip>', 'address of the copy')
      .option('--mac <mac>', 'MAC of the copy')
      .option('--hint <hypervisor>', 'place the copy on this host')
      .option('--tag <key=value>', 'a tag of the copy (repeatable)', flag.pairs('--tag')),
  ).action(async (name: string, newName: string, o: SubmitOptions & { ip?: string; mac?: string; hint?: string; tag?: Record<string, string> }) =>
    withApi(async (api) =>
      reportCommand(
        api,
        await api.post<Accepted>(`/v1/containers/${seg(name)}/clone`, { name: newName, ...(o.ip ? { ip: o.ip } : {}), ...(o.mac ? { mac: o.mac } : {}), ...(o.hint ? { hint: o.hint } : {}), ...(o.tag ? { tags: o.tag } : {}) }),
        o,
      ),
    ),
  );

  submitting(
    cmd
      .command('migrate <container>')
      .description('move a container to another host: live when running, cold when stopped')
      .option('--to <hypervisor>', 'target host; the allocator picks one when left out')
      .option('--cold', 'stop, move and start a running container'),
  ).action(async (name: string, o: SubmitOptions & { to?: string; cold?: boolean }) =>
    withApi(async (api) => reportCommand(api, await api.post<Accepted>(`/v1/containers/${seg(name)}/migrate`, { ...(o.to ? { target: o.to } : {}), ...(o.cold ? { cold: true } : {}) }), o)),
  );

  withOutput(
    cmd
      .command('files <container> [path]')
      .description("print a config file of a container, read through its host's driver (a balancer's upstream file); without a path, list its files"),
  ).action(async (name: string, path: string | undefined, o: OutputOptions) =>
    withApi(async (api) => {
      const files = await api.get<{ paths: string[]; file?: { path: string; content: string } }>(`/v1/containers/${seg(name)}/files`, path === undefined ? {} : { path });
      if (isStructured(o)) return printData(o, files);
      process.stdout.write(files.file ? files.file.content : files.paths.map((p) => `${p}\n`).join(''));
    }),
  );

  return cmd;
}
