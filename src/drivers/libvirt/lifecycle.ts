// A domain's life on one host: define and undefine, its disk, and power (start, stop, shutdown,
// reboot, suspend, resume).
import { posix as path } from 'node:path';
import { DriverError } from '../../domain/errors';
import type { ContainerSpec, DriverContext, HostRef } from '../driver';
import type { ConfigFiles } from './config-files';
import { domainXml, type InterfaceSource } from './domain-xml';
import { assertSafeName, DRIVER, hostSettings, volumeName, type DriverTimings } from './settings';
import { delay } from './steps';
import type { Storage } from './storage';
import type { Virsh } from './virsh';
import { isNotRunning } from './virsh-output';

/** The domain XML of a container on a host: the definition's sizes and MAC, the host's machine and network. */
export function domainXmlFor(host: HostRef, spec: ContainerSpec): string {
  const s = hostSettings(host);
  const d = spec.definition;
  const iface: InterfaceSource = d.network.bridge
    ? { type: 'bridge', bridge: d.network.bridge }
    : s.network
      ? { type: 'network', network: s.network }
      : { type: 'user' };
  return domainXml({
    name: spec.name,
    uuid: spec.id,
    cpus: d.cpus,
    memoryMiB: d.memoryMiB,
    mac: d.network.mac,
    diskPath: path.join(s.storagePath, volumeName(spec.name)),
    domainType: s.domainType,
    machine: s.machine,
    arch: s.arch,
    emulator: s.emulator,
    iface,
    metadata: { id: spec.id, kind: d.kind, ip: d.network.ip, diskGiB: d.diskGiB, image: d.image },
  });
}

export class Lifecycle {
  constructor(
    private readonly virsh: Virsh,
    private readonly storage: Storage,
    private readonly configFiles: ConfigFiles,
    private readonly timings: Pick<DriverTimings, 'pollMs' | 'rebootAckMs'>,
  ) {}

  async define(host: HostRef, spec: ContainerSpec, ctx: DriverContext): Promise<void> {
    assertSafeName(host, 'define', spec.name);
    ctx.progress({ step: 'defining domain' });
    await this.virsh.define(host, 'define', domainXmlFor(host, spec), ctx);
  }

  async undefine(host: HostRef, name: string, ctx: DriverContext): Promise<void> {
    await this.virsh.undefine(host, 'undefine', name, ctx);
  }

  async provision(host: HostRef, spec: ContainerSpec, ctx: DriverContext): Promise<void> {
    assertSafeName(host, 'provision', spec.name);
    await this.storage.provision(host, spec, ctx);
  }

  /** Wipes and removes the disk, and the config folder with it; the domain must be shut off. */
  async deprovision(host: HostRef, name: string, ctx: DriverContext): Promise<void> {
    assertSafeName(host, 'deprovision', name);
    const st = await this.virsh.domainState(host, name, ctx);
    if (st && st.state !== 'shut off') {
      throw new DriverError(DRIVER, 'deprovision', host.name, `domain ${name} is ${st.state}: its disk is in use`);
    }
    const pool = await this.storage.containerPool(host, ctx);
    await this.storage.removeVolume(host, 'deprovision', pool, volumeName(name), ctx);
    await this.configFiles.remove(host, name);
  }

  async start(host: HostRef, name: string, ctx: DriverContext): Promise<void> {
    await this.virsh.run(host, 'start', ['start', `--domain=${name}`], ctx, { step: 'starting' });
  }

  async stop(host: HostRef, name: string, ctx: DriverContext): Promise<void> {
    await this.virsh.run(host, 'stop', ['destroy', `--domain=${name}`], ctx);
  }

  async shutdown(host: HostRef, name: string, timeoutMs: number, ctx: DriverContext): Promise<void> {
    await this.virsh.run(host, 'shutdown', ['shutdown', `--domain=${name}`, '--mode=acpi'], ctx);
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const st = await this.virsh.domainState(host, name, ctx);
      if (!st || st.state === 'shut off') return;
      const left = deadline - Date.now();
      if (left <= 0) break;
      ctx.progress({ step: 'waiting for the guest to power off', fraction: 1 - left / Math.max(1, timeoutMs) });
      await delay(Math.min(this.timings.pollMs, left), ctx.signal);
    }
    // A guest without an OS (or a hung one) never answers ACPI: pull the plug.
    ctx.progress({ step: 'guest did not power off in time: hard stop' });
    try {
      await this.virsh.run(host, 'shutdown', ['destroy', `--domain=${name}`], ctx);
    } catch (err) {
      if (err instanceof DriverError && isNotRunning(err.driverMessage)) return; // it made it just in time
      throw err;
    }
  }

  async reboot(host: HostRef, name: string, ctx: DriverContext): Promise<void> {
    // Listen for the guest's reset before asking for it; a guest that ignores ACPI (no OS) gets a
    // hard reset after rebootAckMs.
    const listening = new AbortController();
    const onAbort = () => listening.abort(ctx.signal?.reason);
    ctx.signal?.addEventListener('abort', onAbort, { once: true });
    const seconds = Math.max(1, Math.ceil(this.timings.rebootAckMs / 1000));
    const ack = this.virsh.waitForEvent(host, name, 'reboot', seconds, { progress: ctx.progress, signal: listening.signal });
    try {
      await delay(300, ctx.signal); // let virsh subscribe before the event can fire
      await this.virsh.run(host, 'reboot', ['reboot', `--domain=${name}`, '--mode=acpi'], ctx);
      ctx.progress({ step: 'waiting for the guest to reboot' });
      if (await ack) return;
      ctx.progress({ step: 'guest ignored the ACPI reboot: reset' });
      await this.virsh.run(host, 'reboot', ['reset', `--domain=${name}`], ctx);
    } finally {
      ctx.signal?.removeEventListener('abort', onAbort);
      listening.abort();
      await ack;
    }
  }

  async suspend(host: HostRef, name: string, ctx: DriverContext): Promise<void> {
    await this.virsh.run(host, 'suspend', ['suspend', `--domain=${name}`], ctx);
  }

  async resume(host: HostRef, name: string, ctx: DriverContext): Promise<void> {
    await this.virsh.run(host, 'resume', ['resume', `--domain=${name}`], ctx);
  }
}
