// `vmflow hypervisors`: add, list, show, drain, undrain, remove.
import { Command, Option } from 'commander';
import { DRIVER_NAMES, META, type HypervisorDefinition } from '../../domain/types';
import { seg } from '../api-client';
import { withApi } from '../context';
import { watching, withWatch, type WatchOptions } from '../watch';
import { addEvents } from '../events';
import { age, flag, printFields, printTable, withOutput, type OutputOptions, isStructured, printData } from '../output';
import type { ChildResource, ContainerResource, HypervisorResource, List } from '../resources';

function hostRow(h: HypervisorResource) {
  const d = h.definition as HypervisorDefinition;
  const u = h.usage ?? { cpus: 0, memoryMiB: 0, diskGiB: 0 };
  return [h.name, h.state, d.driver, `${u.cpus}/${d.capacity.cpus}`, `${u.memoryMiB}/${d.capacity.memoryMiB}`, `${u.diskGiB}/${d.capacity.diskGiB}`, h.metadata[META.load], age(h.metadata[META.lastContact] as string | undefined)];
}
const HEAD = ['NAME', 'STATE', 'DRIVER', 'CPUS', 'MEMORY MiB', 'DISK GiB', 'LOAD', 'SEEN'];

export function hypervisorCommands(): Command {
  const cmd = new Command('hypervisors').alias('hv').description('hosts that run containers');

  withWatch(withOutput(cmd.command('list').description('list hypervisors with claimed/total capacity'))).action(async (o: OutputOptions & WatchOptions) =>
    watching(o, () => withApi(async (api) => {
      const { items } = await api.get<List<HypervisorResource>>('/v1/hypervisors');
      if (isStructured(o)) return printData(o, items);
      if (o.output !== 'wide') return printTable(HEAD, items.map(hostRow));
      printTable(
        [...HEAD, 'ADDRESS', 'LABELS', 'AGENT QUEUE', 'ID', 'STATE CAUSE'],
        items.map((h) => {
          const d = h.definition as HypervisorDefinition;
          const labels = Object.entries(d.labels ?? {}).map(([k, v]) => `${k}=${v}`).join(',');
          return [...hostRow(h), d.address, labels, d.agentQueue, h.id, h.metadata[META.stateCause]];
        }),
      );
    })),
  );

  withOutput(cmd.command('show <hypervisor>').alias('get').description('one hypervisor, its usage and its containers')).action(async (ref: string, o: OutputOptions) =>
    withApi(async (api) => {
      const host = await api.get<HypervisorResource>(`/v1/hypervisors/${seg(ref)}`);
      const { items: children } = await api.get<List<ChildResource>>(`/v1/hypervisors/${seg(host.id)}/children`);
      const usage = host.usage ?? { cpus: 0, memoryMiB: 0, diskGiB: 0 };
      if (isStructured(o)) return printData(o, { ...host, children: children.map((c) => ({ id: c.id, name: c.name, type: c.type, state: c.state })) });
      const d = host.definition as HypervisorDefinition;
      printFields([
        ['name', host.name],
        ['id', host.id],
        ['state', host.state],
        ['driver', d.driver],
        ['address', d.address],
        ['capacity', `${d.capacity.cpus} cpus, ${d.capacity.memoryMiB} MiB, ${d.capacity.diskGiB} GiB`],
        ['claimed', `${usage.cpus} cpus, ${usage.memoryMiB} MiB, ${usage.diskGiB} GiB`],
        ['overcommit', d.overcommit],
        ['labels', d.labels],
        ['agent queue', d.agentQueue],
        ['last contact', host.metadata[META.lastContact]],
        ['state cause', host.metadata[META.stateCause]],
        ['tags', host.tags],
      ]);
      if (children.length) {
        process.stdout.write('\n');
        printTable(
          ['NAME', 'TYPE', 'STATE', 'CPUS', 'MEMORY MiB'],
          children.map((c) => [c.name, c.type, c.state, c.definition.cpus ?? c.definition.resources?.cpus, c.definition.memoryMiB ?? c.definition.resources?.memoryMiB]),
        );
      }
    }),
  );

  addEvents(cmd, 'hypervisors', 'hypervisor');

  withOutput(
    cmd
      .command('add <name>')
      .description('add a host: validated, registered and probed through its driver')
      .addOption(new Option('--driver <driver>', 'driver that reaches it').choices([...DRIVER_NAMES]).makeOptionMandatory())
      .requiredOption('--address <address>', 'where the driver reaches it (sim: http://127.0.0.1:7070/hosts/hv-1; libvirt: a URI)')
      .requiredOption('--cpus <n>', 'cpus', flag.positive('--cpus'))
      .requiredOption('--memory <MiB>', 'memory in MiB', flag.positive('--memory'))
      .requiredOption('--disk <GiB>', 'disk in GiB', flag.positive('--disk'))
      .option('--overcommit <resource=ratio>', 'overcommit ratio: cpu=2, memory=1.5, disk=1 (repeatable)', flag.pairs('--overcommit'))
      .option('--label <key=value>', 'a label containers may require (repeatable)', flag.pairs('--label'))
      .option('--agent-queue <queue>', 'task queue of an agent on the host')
      .option('--tag <key=value>', 'a tag (repeatable)', flag.pairs('--tag')),
  ).action(async (name: string, o: OutputOptions & { driver: string; address: string; cpus: number; memory: number; disk: number; overcommit?: Record<string, string>; label?: Record<string, string>; agentQueue?: string; tag?: Record<string, string> }) =>
    withApi(async (api) => {
      const definition = {
        driver: o.driver,
        address: o.address,
        capacity: { cpus: o.cpus, memoryMiB: o.memory, diskGiB: o.disk },
        ...(o.overcommit ? { overcommit: Object.fromEntries(Object.entries(o.overcommit).map(([k, v]) => [k, Number(v)])) } : {}),
        ...(o.label ? { labels: o.label } : {}),
        ...(o.agentQueue ? { agentQueue: o.agentQueue } : {}),
      };
      // 201 with the host once probed; 202 while a host that does not answer yet is still being probed.
      const out = await api.post<HypervisorResource | { name: string; workflowId: string; webUi: string }>('/v1/hypervisors', { name, definition, ...(o.tag ? { tags: o.tag } : {}) });
      if (isStructured(o)) return printData(o, out);
      if ('workflowId' in out) process.stdout.write(`hypervisor ${out.name} accepted; its first probe is still running\n  workflow  ${out.workflowId}\n  Web UI    ${out.webUi}\n`);
      else process.stdout.write(`hypervisor ${out.name} added (${out.id}), state ${out.state}\n`);
    }),
  );

  withOutput(
    cmd
      .command('drain <hypervisor>')
      .description('cordon it (place nothing new there) and move every container away, live when it runs, as one command')
      .option('--reason <text>', 'why')
      .option('--keep', 'only cordon it: what runs there stays'),
  ).action(async (ref: string, o: OutputOptions & { reason?: string; keep?: boolean }) =>
    withApi(async (api) => {
      const host = await api.post<HypervisorResource>(`/v1/hypervisors/${seg(ref)}/drain`, { ...(o.reason ? { reason: o.reason } : {}), ...(o.keep ? { keep: true } : {}) });
      if (isStructured(o)) return printData(o, host);
      const { items } = await api.get<List<ContainerResource>>(`/v1/hypervisors/${seg(host.id)}/containers`);
      process.stdout.write(
        o.keep
          ? `hypervisor ${host.name} is draining; ${items.length} container(s) still on it (vmflow containers migrate <name> to move them)\n`
          : `hypervisor ${host.name} is draining; moving ${items.length} container(s) away (vmflow commands list --hypervisor ${host.name} to follow)\n`,
      );
    }),
  );

  withOutput(cmd.command('evacuate <hypervisor>').description('rebuild what a host that is down held on other hosts (it is fenced first)')).action(async (ref: string, o: OutputOptions) =>
    withApi(async (api) => {
      await api.post(`/v1/hypervisors/${seg(ref)}/evacuate`, {});
      if (isStructured(o)) return printData(o, { evacuating: ref });
      process.stdout.write(`evacuating ${ref} (vmflow commands list --hypervisor ${ref} to follow)\n`);
    }),
  );

  withOutput(cmd.command('undrain <hypervisor>').alias('uncordon').description('take a draining host back into placement')).action(async (ref: string, o: OutputOptions) =>
    withApi(async (api) => {
      const host = await api.post<HypervisorResource>(`/v1/hypervisors/${seg(ref)}/undrain`);
      if (isStructured(o)) return printData(o, host);
      process.stdout.write(`hypervisor ${host.name} is ${host.state}\n`);
    }),
  );

  withOutput(cmd.command('remove <hypervisor>').description('deprovision a host; refused while containers or claims are on it')).action(async (ref: string, o: OutputOptions) =>
    withApi(async (api) => {
      const host = await api.get<HypervisorResource>(`/v1/hypervisors/${seg(ref)}`);
      await api.delete(`/v1/hypervisors/${seg(host.id)}`);
      if (isStructured(o)) return printData(o, { removed: host.id, name: host.name });
      process.stdout.write(`hypervisor ${host.name} removed\n`);
    }),
  );

  return cmd;
}
