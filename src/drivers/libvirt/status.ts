// What a host and its domains look like now: capacity, free resources, load, and each domain's
// state and size as libvirt reports them.
import pLimit from 'p-limit';
import { DriverError } from '../../domain/errors';
import type { DriverContext, HostRef, HostStatus, ObservedContainer } from '../driver';
import { parseDomainXml } from './domain-xml';
import { GiB, hostSettings } from './settings';
import type { Storage } from './storage';
import type { Virsh } from './virsh';
import { isDomainMissing, observedState, parseBytes, parseCpuBusy, parseFields, parseMemStats, parseNames } from './virsh-output';

export class StatusReader {
  constructor(
    private readonly virsh: Virsh,
    private readonly storage: Storage,
    /** Domains inspected at once by hostStatus. */
    private readonly concurrency: number,
  ) {}

  async hostStatus(host: HostRef, ctx: DriverContext): Promise<HostStatus> {
    const s = hostSettings(host);
    const read = (args: string[]) => this.virsh.run(host, 'hostStatus', args, ctx);
    const [info, mem, cpu, names, pool] = await Promise.all([
      read(['nodeinfo']).then(parseFields),
      read(['nodememstats']).then(parseMemStats),
      // --percent samples for one second: the share of CPU busy now, our stand-in for the load average.
      read(['nodecpustats', '--percent']).then(parseCpuBusy),
      read(['list', '--all', '--name']).then(parseNames),
      this.storage.ensurePool(host, s.storagePath, ctx).then((p) => read(['pool-info', `--pool=${p}`, '--bytes']).then(parseFields)),
    ]);
    const limit = pLimit(this.concurrency);
    const found = await Promise.all(names.map((n) => limit(() => this.containerStatus(host, n, ctx))));
    const containers = found.filter((c): c is ObservedContainer => c !== undefined);
    const cpus = Number(info.get('CPU(s)') ?? 0);
    const usedCpus = containers
      .filter((c) => c.state === 'running' || c.state === 'suspended' || c.state === 'migrating')
      .reduce((sum, c) => sum + c.cpus, 0);
    const kib = (k: string) => mem.get(k) ?? 0;
    return {
      reachable: true,
      capacity: {
        cpus,
        memoryMiB: Math.floor(kib('total') / 1024),
        diskGiB: Math.floor(parseBytes(pool.get('Capacity')) / GiB),
      },
      free: {
        cpus: Math.max(0, cpus - usedCpus),
        // Page cache and buffers are given back on demand, as `free`'s "available" counts them.
        memoryMiB: Math.floor((kib('free') + kib('buffers') + kib('cached')) / 1024),
        diskGiB: Math.floor(parseBytes(pool.get('Available')) / GiB),
      },
      load: Math.round(cpu * cpus * 100) / 100,
      containers,
    };
  }

  async containerStatus(host: HostRef, name: string, ctx: DriverContext): Promise<ObservedContainer | undefined> {
    const st = await this.virsh.domainState(host, name, ctx);
    if (!st) return undefined;
    let xml: string;
    try {
      xml = await this.virsh.run(host, 'containerStatus', ['dumpxml', `--domain=${name}`], ctx);
    } catch (err) {
      if (err instanceof DriverError && isDomainMissing(err.driverMessage)) return undefined;
      throw err;
    }
    const facts = parseDomainXml(xml);
    const disk = await this.storage.diskFacts(host, facts.diskPath, ctx);
    return {
      name,
      ...(facts.uuid ? { uuid: facts.uuid } : {}),
      state: observedState(st.state, st.reason, disk.provisioned),
      cpus: facts.cpus,
      memoryMiB: facts.memoryMiB,
      diskGiB: facts.metadata.diskGiB ?? Math.ceil(disk.capacityBytes / GiB),
      mac: facts.mac,
      provisioned: disk.provisioned,
    };
  }
}
