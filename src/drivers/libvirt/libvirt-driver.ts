// The libvirt driver: QEMU/KVM hosts reached through a libvirt connection URI (qemu:///system,
// qemu+ssh://, qemu+tcp://, qemu+unix:///system?socket=...).
//
// Why virsh and not an npm binding: the only binding on the npm registry that is maintained
// (@unraid/libvirt, a fork of vmngr/libvirt) is a native addon that must compile against
// libvirt-dev; its Hypervisor class has no migration call, no storage-pool/volume calls and no node
// memory or CPU statistics, so live migration, disk provisioning on a remote host and host status
// could not be written with it. virsh ships with libvirt-clients wherever libvirt does, speaks every
// URI transport, and exposes the whole API (migrate, vol-*, nodememstats, event). Each call is one
// execFile with an argument vector; user-supplied values go in `--opt=value` form so none is ever
// read as an option.
//
// Disks live in libvirt storage pools (a `dir` pool on the host's storagePath, another on the
// image folder), so provisioning, wiping and copying go through the same URI and work on a remote
// host too: `vol-create` of a volume with a backing store is libvirt running `qemu-img create -f
// qcow2 -b <base> -F qcow2` for us, `vol-create-from` is its `qemu-img convert`, and a disk moves
// between hosts as a libvirt stream (vol-download/vol-upload). Volume and pool XML is written by
// the driver: virsh's `vol-create-as` and `vol-clone` paste names into XML unescaped.
import { createHash } from 'node:crypto';
import { cp, mkdir, mkdtemp, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { posix as path } from 'node:path';
import { DriverError, HostUnreachableError } from '../../domain/errors';
import type {
  ContainerSpec,
  Driver,
  DriverContext,
  HostRef,
  HostStatus,
  MigrateOptions,
  ObservedContainer,
} from '../driver';
import { NO_CONTEXT } from '../driver';
import { CommandError, runCommand, type RunOptions } from './command';
import { dirPoolXml, domainXml, parseDomainXml, rewriteDiskSource, volumeXml, type InterfaceSource } from './domain-xml';
import {
  isDomainMissing,
  isNotRunning,
  isPoolMissing,
  isTransient,
  isUnreachable,
  isVolumeMissing,
  libvirtMessage,
  observedState,
  parseBytes,
  parseCpuBusy,
  parseDomState,
  parseFields,
  parseMemStats,
  parseNames,
} from './virsh-output';

export interface LibvirtDriverOptions {
  /** The virsh binary; `virsh` on PATH by default. */
  readonly virsh?: string;
  /** How long a guest gets to act on an ACPI reboot before the driver resets it. Default 30 s. */
  readonly rebootAckMs?: number;
  /** How often shutdown polls the domain's state while waiting for the guest. Default 250 ms. */
  readonly pollMs?: number;
  /** Short virsh calls that take longer count as an unanswering host. Default 60 s. */
  readonly commandTimeoutMs?: number;
  /** Domains inspected at once by hostStatus. Default 4. */
  readonly statusConcurrency?: number;
}

/**
 * Settings the driver reads from `HypervisorDefinition.options`:
 * - `storagePath` (required): folder on the host for container disks (`<name>.qcow2`) and the
 *   per-container config folders (`<name>.config/`).
 * - `imagePath`: folder of base images; a relative `image` is looked up there.
 * - `storagePool`: an existing libvirt pool to use for storagePath instead of the driver's own.
 * - `network`: a libvirt network to attach to; otherwise user-mode networking (or the definition's
 *   bridge). The host's bridges are never changed.
 * - `domainType` (`qemu`, i.e. TCG; `kvm` where /dev/kvm works), `machine` (`pc`), `arch`
 *   (`x86_64`), `emulator` (libvirt's default when unset).
 * - `migrationHost`: address the host's QEMU listens on for incoming live migrations; by default
 *   the host part of the URI, or 127.0.0.1 for a local URI.
 */
export interface LibvirtHostSettings {
  readonly uri: string;
  readonly storagePath: string;
  readonly imagePath?: string;
  readonly storagePool?: string;
  readonly network?: string;
  readonly domainType: string;
  readonly machine: string;
  readonly arch: string;
  readonly emulator?: string;
  readonly migrationHost: string;
}

const GiB = 1024 ** 3;
const DRIVER = 'libvirt';
const UNDEFINE_FLAGS = ['--managed-save', '--nvram', '--snapshots-metadata', '--checkpoints-metadata'];

export function hostSettings(host: HostRef): LibvirtHostSettings {
  const o = host.definition.options ?? {};
  const storagePath = o.storagePath;
  if (!storagePath || !path.isAbsolute(storagePath)) {
    throw new DriverError(DRIVER, 'configure', host.name, 'options.storagePath must be an absolute path on the host');
  }
  let uriHost = '';
  try {
    uriHost = new URL(host.definition.address).hostname;
  } catch {
    throw new DriverError(DRIVER, 'configure', host.name, `address ${host.definition.address} is not a libvirt URI`);
  }
  return {
    uri: host.definition.address,
    storagePath: path.normalize(storagePath),
    imagePath: o.imagePath ? path.normalize(o.imagePath) : undefined,
    storagePool: o.storagePool || undefined,
    network: o.network || undefined,
    domainType: o.domainType || 'qemu',
    machine: o.machine || 'pc',
    arch: o.arch || 'x86_64',
    emulator: o.emulator || undefined,
    migrationHost: o.migrationHost || uriHost.replace(/^\[|\]$/g, '') || '127.0.0.1',
  };
}

/** The name of the pool the driver defines for a folder: stable, so every caller finds the same one. */
export function poolNameFor(dir: string): string {
  return `vmflow-${createHash('sha256').update(path.normalize(dir)).digest('hex').slice(0, 12)}`;
}

export function volumeName(container: string): string {
  return `${container}.qcow2`;
}

/**
 * A domain name that is also a safe file name. virsh looks a domain up by id and by uuid before
 * its name, so a name made of digits or shaped like a uuid could reach another domain: refused.
 */
function assertSafeName(host: HostRef, operation: string, name: string): void {
  const bad =
    !name ||
    name === '.' ||
    name === '..' ||
    /[/\u0000-\u001f]/.test(name) ||
    /^\d+$/.test(name) ||
    /^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$/i.test(name);
  if (bad) {
    throw new DriverError(DRIVER, operation, host.name, `container name ${JSON.stringify(name)} cannot name a domain and its files`);
  }
}

/** A config path inside the container: relative, normalised, never leaving its folder. */
function configRelPath(host: HostRef, file: string): string {
  const norm = path.normalize(file.replace(/^\/+/, ''));
  if (!file || norm === '.' || norm.startsWith('..') || norm.split('/').includes('..')) {
    throw new DriverError(DRIVER, 'config', host.name, `config path ${JSON.stringify(file)} leaves the container's folder`);
  }
  return norm;
}

function delay(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      reject(signal!.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

async function exists(p: string): Promise<boolean> {
  try {
    await stat(p);
    return true;
  } catch {
    return false;
  }
}

/** Storage and config of a domain as its XML and the pool report them. */
interface DiskFacts {
  readonly path?: string;
  readonly provisioned: boolean;
  readonly capacityBytes: number;
}

export class LibvirtDriver implements Driver {
  readonly name = DRIVER;
  private readonly virshPath: string;
  private readonly rebootAckMs: number;
  private readonly pollMs: number;
  private readonly commandTimeoutMs: number;
  private readonly statusConcurrency: number;

  constructor(options: LibvirtDriverOptions = {}) {
    this.virshPath = options.virsh ?? 'virsh';
    this.rebootAckMs = options.rebootAckMs ?? 30_000;
    this.pollMs = options.pollMs ?? 250;
    this.commandTimeoutMs = options.commandTimeoutMs ?? 60_000;
    this.statusConcurrency = options.statusConcurrency ?? 4;
  }

  // ---- host and container status -------------------------------------------------------------

  async hostStatus(host: HostRef, ctx: DriverContext = NO_CONTEXT): Promise<HostStatus> {
    const s = hostSettings(host);
    const [info, mem, cpu, names, pool] = await Promise.all([
      this.virsh(host, 'hostStatus', ['nodeinfo'], ctx).then(parseFields),
      this.virsh(host, 'hostStatus', ['nodememstats'], ctx).then(parseMemStats),
      // --percent samples for one second: the share of CPU busy now, our stand-in for the load average.
      this.virsh(host, 'hostStatus', ['nodecpustats', '--percent'], ctx).then(parseCpuBusy),
      this.virsh(host, 'hostStatus', ['list', '--all', '--name'], ctx).then(parseNames),
      this.ensurePool(host, s.storagePath, ctx).then((p) =>
        this.virsh(host, 'hostStatus', ['pool-info', `--pool=${p}`, '--bytes'], ctx).then(parseFields),
      ),
    ]);
    const found = await mapLimit(names, this.statusConcurrency, (n) => this.containerStatus(host, n, ctx));
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

  async containerStatus(host: HostRef, name: string, ctx: DriverContext = NO_CONTEXT): Promise<ObservedContainer | undefined> {
    const st = await this.domainState(host, name, ctx);
    if (!st) return undefined;
    let xml: string;
    try {
      xml = await this.virsh(host, 'containerStatus', ['dumpxml', `--domain=${name}`], ctx);
    } catch (err) {
      if (err instanceof DriverError && isDomainMissing(err.driverMessage)) return undefined;
      throw err;
    }
    const facts = parseDomainXml(xml);
    const disk = await this.diskFacts(host, facts.diskPath, ctx);
    return {
      name,
      state: observedState(st.state, st.reason, disk.provisioned),
      cpus: facts.cpus,
      memoryMiB: facts.memoryMiB,
      diskGiB: facts.metadata.diskGiB ?? Math.ceil(disk.capacityBytes / GiB),
      mac: facts.mac,
      provisioned: disk.provisioned,
    };
  }

  // ---- definition and disks -------------------------------------------------------------------

  async define(host: HostRef, spec: ContainerSpec, ctx: DriverContext = NO_CONTEXT): Promise<void> {
    assertSafeName(host, 'define', spec.name);
    ctx.progress({ step: 'defining domain' });
    await this.defineXml(host, 'define', this.buildXml(host, spec), ctx);
  }

  async undefine(host: HostRef, name: string, ctx: DriverContext = NO_CONTEXT): Promise<void> {
    await this.virsh(host, 'undefine', ['undefine', `--domain=${name}`, ...UNDEFINE_FLAGS], ctx);
  }

  async provision(host: HostRef, spec: ContainerSpec, ctx: DriverContext = NO_CONTEXT): Promise<void> {
    assertSafeName(host, 'provision', spec.name);
    const s = hostSettings(host);
    const pool = await this.ensurePool(host, s.storagePath, ctx);
    const size = spec.definition.diskGiB * GiB;
    const name = volumeName(spec.name);
    const image = spec.definition.image;
    if (!image) {
      ctx.progress({ step: 'creating blank disk' });
      await this.createVolume(host, 'provision', pool, volumeXml({ name, capacityBytes: size, format: 'qcow2' }), ctx);
      return;
    }
    const base = this.imageFile(host, image);
    const imagePool = await this.ensurePool(host, path.dirname(base), ctx);
    // Pick up images copied into the folder since the pool was last read.
    await this.virsh(host, 'provision', ['pool-refresh', `--pool=${imagePool}`], ctx);
    const baseXml = await this.virsh(host, 'provision', ['vol-dumpxml', `--vol=${base}`], ctx);
    const format = /<format\s+type=['"]([\w-]+)['"]/.exec(baseXml)?.[1] ?? 'qcow2';
    const baseBytes = Number(/<capacity\b[^>]*>(\d+)<\/capacity>/.exec(baseXml)?.[1] ?? 0);
    ctx.progress({ step: `creating disk over ${image}` });
    const xml = volumeXml({ name, capacityBytes: Math.max(size, baseBytes), format: 'qcow2', backing: { path: base, format } });
    await this.createVolume(host, 'provision', pool, xml, ctx);
  }

  async deprovision(host: HostRef, name: string, ctx: DriverContext = NO_CONTEXT): Promise<void> {
    assertSafeName(host, 'deprovision', name);
    const st = await this.domainState(host, name, ctx);
    if (st && st.state !== 'shut off') {
      throw new DriverError(DRIVER, 'deprovision', host.name, `domain ${name} is ${st.state}: its disk is in use`);
    }
    const s = hostSettings(host);
    const pool = await this.ensurePool(host, s.storagePath, ctx);
    await this.removeVolume(host, 'deprovision', pool, volumeName(name), ctx);
    await rm(this.configDir(s, name), { recursive: true, force: true });
  }

  // ---- power ------------------------------------------------------------------------------------

  async start(host: HostRef, name: string, ctx: DriverContext = NO_CONTEXT): Promise<void> {
    await this.virsh(host, 'start', ['start', `--domain=${name}`], ctx, { step: 'starting' });
  }

  async stop(host: HostRef, name: string, ctx: DriverContext = NO_CONTEXT): Promise<void> {
    await this.virsh(host, 'stop', ['destroy', `--domain=${name}`], ctx);
  }

  async shutdown(host: HostRef, name: string, timeoutMs: number, ctx: DriverContext = NO_CONTEXT): Promise<void> {
    await this.virsh(host, 'shutdown', ['shutdown', `--domain=${name}`, '--mode=acpi'], ctx);
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const st = await this.domainState(host, name, ctx);
      if (!st || st.state === 'shut off') return;
      const left = deadline - Date.now();
      if (left <= 0) break;
      ctx.progress({ step: 'waiting for the guest to power off', fraction: 1 - left / Math.max(1, timeoutMs) });
      await delay(Math.min(this.pollMs, left), ctx.signal);
    }
    // A guest without an OS (or a hung one) never answers ACPI: pull the plug.
    ctx.progress({ step: 'guest did not power off in time: hard stop' });
    try {
      await this.virsh(host, 'shutdown', ['destroy', `--domain=${name}`], ctx);
    } catch (err) {
      if (err instanceof DriverError && isNotRunning(err.driverMessage)) return; // it made it just in time
      throw err;
    }
  }

  async reboot(host: HostRef, name: string, ctx: DriverContext = NO_CONTEXT): Promise<void> {
    // Listen for the guest's reset before asking for it; a guest that ignores ACPI (no OS) gets a
    // hard reset after rebootAckMs.
    const listening = new AbortController();
    const onAbort = () => listening.abort(ctx.signal?.reason);
    ctx.signal?.addEventListener('abort', onAbort, { once: true });
    const s = hostSettings(host);
    const seconds = Math.max(1, Math.ceil(this.rebootAckMs / 1000));
    const ack = runCommand(
      this.virshPath,
      ['-c', s.uri, 'event', `--domain=${name}`, '--event=reboot', `--timeout=${seconds}`],
      { ctx: { progress: ctx.progress, signal: listening.signal } },
    ).then(
      (out) => /event 'reboot'/.test(out.stdout),
      () => false,
    );
    try {
      await delay(300, ctx.signal); // let virsh subscribe before the event can fire
      await this.virsh(host, 'reboot', ['reboot', `--domain=${name}`, '--mode=acpi'], ctx);
      ctx.progress({ step: 'waiting for the guest to reboot' });
      if (await ack) return;
      ctx.progress({ step: 'guest ignored the ACPI reboot: reset' });
      await this.virsh(host, 'reboot', ['reset', `--domain=${name}`], ctx);
    } finally {
      ctx.signal?.removeEventListener('abort', onAbort);
      listening.abort();
      await ack;
    }
  }

  async suspend(host: HostRef, name: string, ctx: DriverContext = NO_CONTEXT): Promise<void> {
    await this.virsh(host, 'suspend', ['suspend', `--domain=${name}`], ctx);
  }

  async resume(host: HostRef, name: string, ctx: DriverContext = NO_CONTEXT): Promise<void> {
    await this.virsh(host, 'resume', ['resume', `--domain=${name}`], ctx);
  }

  // ---- clone and migrate ------------------------------------------------------------------------

  async clone(
    source: HostRef,
    sourceName: string,
    target: HostRef,
    spec: ContainerSpec,
    ctx: DriverContext = NO_CONTEXT,
  ): Promise<void> {
    assertSafeName(target, 'clone', spec.name);
    const st = await this.domainState(source, sourceName, ctx);
    if (!st) throw new DriverError(DRIVER, 'clone', source.name, `domain ${sourceName} is not defined`);
    if (st.state !== 'shut off') {
      throw new DriverError(DRIVER, 'clone', source.name, `domain ${sourceName} is ${st.state}: a clone needs it stopped`);
    }
    if (await this.domainState(target, spec.name, ctx)) {
      throw new DriverError(DRIVER, 'clone', target.name, `a domain named ${spec.name} already exists`);
    }
    const srcXml = await this.virsh(source, 'clone', ['dumpxml', '--inactive', `--domain=${sourceName}`], ctx);
    const disk = await this.diskFacts(source, parseDomainXml(srcXml).diskPath, ctx);
    const t = hostSettings(target);
    const targetPool = await this.ensurePool(target, t.storagePath, ctx);
    const newVol = volumeName(spec.name);
    if (disk.provisioned && disk.path) {
      await this.copyVolume(source, disk, target, targetPool, newVol, 'clone', ctx);
    }
    try {
      ctx.progress({ step: 'defining the clone' });
      await this.defineXml(target, 'clone', this.buildXml(target, spec), ctx);
    } catch (err) {
      if (disk.provisioned) await this.bestEffort(() => this.removeVolume(target, 'clone', targetPool, newVol, ctx, false));
      throw err;
    }
    await this.copyConfigDir(hostSettings(source), sourceName, t, spec.name, false);
  }

  async migrate(
    source: HostRef,
    target: HostRef,
    spec: ContainerSpec,
    options: MigrateOptions,
    ctx: DriverContext = NO_CONTEXT,
  ): Promise<void> {
    const name = spec.name;
    assertSafeName(source, 'migrate', name);
    if (source.definition.address === target.definition.address) {
      throw new DriverError(DRIVER, 'migrate', source.name, `source and target are the same libvirt connection`);
    }
    const st = await this.domainState(source, name, ctx);
    if (!st) throw new DriverError(DRIVER, 'migrate', source.name, `domain ${name} is not defined`);
    const active = st.state !== 'shut off';
    if (active && !options.live) {
      throw new DriverError(DRIVER, 'migrate', source.name, `domain ${name} is ${st.state}: a cold migration needs it stopped`);
    }
    await this.virsh(target, 'migrate', ['uri'], ctx); // the target answers before anything moves
    if (await this.domainState(target, name, ctx)) {
      throw new DriverError(DRIVER, 'migrate', target.name, `a domain named ${name} already exists`);
    }
    const s = hostSettings(source);
    const t = hostSettings(target);
    const shared = await this.sharedStorage(source, target, ctx);
    const inactiveXml = await this.virsh(source, 'migrate', ['dumpxml', '--inactive', '--migratable', `--domain=${name}`], ctx);
    const diskPath = parseDomainXml(inactiveXml).diskPath;
    const disk = await this.diskFacts(source, diskPath, ctx);
    const moveDisk = !shared && disk.provisioned && disk.path !== undefined;
    const targetPool = await this.ensurePool(target, t.storagePath, ctx);
    const targetDisk = path.join(t.storagePath, volumeName(name));
    // Without shared storage the definition points at the target's folder, disk or not (yet).
    const retarget = (xml: string) => (!shared && diskPath ? rewriteDiskSource(xml, diskPath, targetDisk) : xml);

    if (active) {
      await this.migrateLive(source, target, name, { shared, moveDisk, disk, targetPool, inactiveXml, retarget }, ctx);
    } else {
      await this.migrateCold(source, target, name, { moveDisk, disk, targetPool, xml: retarget(inactiveXml) }, ctx);
    }
    if (moveDisk) {
      ctx.progress({ step: 'wiping the disk left on the source' });
      const srcPool = await this.poolOfVolume(source, disk.path!, ctx);
      await this.removeVolume(source, 'migrate', srcPool, path.basename(disk.path!), ctx);
    }
    if (!shared) await this.copyConfigDir(s, name, t, name, true);
  }

  private async migrateLive(
    source: HostRef,
    target: HostRef,
    name: string,
    m: {
      shared: boolean;
      moveDisk: boolean;
      disk: DiskFacts;
      targetPool: string;
      inactiveXml: string;
      retarget: (xml: string) => string;
    },
    ctx: DriverContext,
  ): Promise<void> {
    const t = hostSettings(target);
    const host = t.migrationHost.includes(':') ? `[${t.migrationHost}]` : t.migrationHost;
    const args = [
      'migrate',
      '--live',
      '--persistent',
      '--undefinesource',
      '--verbose',
      `--domain=${name}`,
      `--desturi=${t.uri}`,
      `--migrateuri=tcp://${host}`,
    ];
    // The two daemons share a filesystem here, which libvirt cannot tell from a local disk.
    if (m.shared) args.push('--unsafe');
    const work = await mkdtemp(path.join(tmpdir(), 'vmflow-migrate-'));
    let precreated = false;
    try {
      if (m.moveDisk) {
        // --copy-storage-all mirrors the disk (backing chain flattened) into a volume that must exist.
        const liveXml = await this.virsh(source, 'migrate', ['dumpxml', '--migratable', `--domain=${name}`], ctx);
        await writeFile(path.join(work, 'live.xml'), m.retarget(liveXml));
        await writeFile(path.join(work, 'persistent.xml'), m.retarget(m.inactiveXml));
        const vol = volumeXml({ name: volumeName(name), capacityBytes: m.disk.capacityBytes, format: 'qcow2' });
        await this.removeLeftoverVolume(target, 'migrate', m.targetPool, volumeName(name), ctx);
        await this.createVolume(target, 'migrate', m.targetPool, vol, ctx);
        precreated = true;
        args.push(
          '--copy-storage-all',
          `--xml=${path.join(work, 'live.xml')}`,
          `--persistent-xml=${path.join(work, 'persistent.xml')}`,
        );
      }
      await this.abortLeftoverMigration(source, name, ctx);
      ctx.progress({ step: 'live migration', fraction: 0 });
      await this.virsh(source, 'migrate', args, ctx, {
        timeoutMs: 0,
        step: 'live migration',
        onStderr: (chunk) => {
          const all = [...chunk.matchAll(/Migration: \[\s*(\d+)\s*%\]/g)];
          const last = all[all.length - 1];
          if (last) ctx.progress({ step: 'live migration', fraction: Number(last[1]) / 100 });
        },
      });
    } catch (err) {
      if (precreated) {
        await this.bestEffort(() => this.removeVolume(target, 'migrate', m.targetPool, volumeName(name), ctx, false));
      }
      throw err;
    } finally {
      await rm(work, { recursive: true, force: true });
    }
  }

  /**
   * A virsh whose process died mid-migration (its agent or worker was killed) leaves the source's
   * migration job running until the copy fails, tens of seconds later; a new `virsh migrate` is
   * refused meanwhile. Only this container's own earlier attempt can own that job (its commands
   * run one at a time), so abort it and wait for the domain to be ours again.
   */
  private async abortLeftoverMigration(source: HostRef, name: string, ctx: DriverContext): Promise<void> {
    const job = async () => parseFields(await this.virsh(source, 'migrate', ['domjobinfo', `--domain=${name}`], ctx));
    let info = await job();
    if ((info.get('Job type') ?? 'None') === 'None' || !/migration/i.test(info.get('Operation') ?? '')) return;
    ctx.progress({ step: 'aborting a migration left by an interrupted attempt' });
    try {
      await this.virsh(source, 'migrate', ['domjobabort', `--domain=${name}`], ctx);
    } catch {
      // It may have ended on its own meanwhile; the loop below tells.
    }
    const deadline = Date.now() + this.commandTimeoutMs;
    while ((info.get('Job type') ?? 'None') !== 'None') {
      if (Date.now() > deadline) {
        throw new DriverError(DRIVER, 'migrate', source.name, `domain ${name} still has a ${info.get('Operation') ?? 'migration'} job after aborting it`, false);
      }
      await delay(this.pollMs, ctx.signal);
      info = await job();
    }
  }

  private async migrateCold(
    source: HostRef,
    target: HostRef,
    name: string,
    m: { moveDisk: boolean; disk: DiskFacts; targetPool: string; xml: string },
    ctx: DriverContext,
  ): Promise<void> {
    if (m.moveDisk) await this.copyVolume(source, m.disk, target, m.targetPool, volumeName(name), 'migrate', ctx);
    const undoTarget = async () => {
      if (m.moveDisk) await this.bestEffort(() => this.removeVolume(target, 'migrate', m.targetPool, volumeName(name), ctx, false));
    };
    try {
      ctx.progress({ step: 'defining on the target' });
      await this.defineXml(target, 'migrate', m.xml, ctx);
    } catch (err) {
      await undoTarget();
      throw err;
    }
    try {
      await this.virsh(source, 'migrate', ['undefine', `--domain=${name}`, ...UNDEFINE_FLAGS], ctx);
    } catch (err) {
      // The source keeps the container: take the copy back so it exists in one place only.
      await this.bestEffort(() => this.virsh(target, 'migrate', ['undefine', `--domain=${name}`, ...UNDEFINE_FLAGS], ctx));
      await undoTarget();
      throw err;
    }
  }

  // ---- configuration files ----------------------------------------------------------------------
  // There is no guest OS to write into, so the driver keeps a container's configuration files in
  // `<storagePath>/<name>.config/<path>`, standing in for a guest agent. The folder is on the
  // machine the driver runs on: for a remote URI, run the driver in that host's agent.

  async applyConfig(host: HostRef, name: string, file: string, content: string, ctx: DriverContext = NO_CONTEXT): Promise<void> {
    const s = hostSettings(host);
    assertSafeName(host, 'applyConfig', name);
    const rel = configRelPath(host, file);
    if (!(await this.domainState(host, name, ctx))) {
      throw new DriverError(DRIVER, 'applyConfig', host.name, `domain ${name} is not defined`);
    }
    const dest = path.join(this.configDir(s, name), rel);
    await mkdir(path.dirname(dest), { recursive: true });
    const tmp = `${dest}.${process.pid}.tmp`;
    await writeFile(tmp, content);
    await rename(tmp, dest);
  }

  async readConfig(host: HostRef, name: string, file: string, _ctx: DriverContext = NO_CONTEXT): Promise<string | undefined> {
    const s = hostSettings(host);
    assertSafeName(host, 'readConfig', name);
    try {
      return await readFile(path.join(this.configDir(s, name), configRelPath(host, file)), 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
  }

  async close(): Promise<void> {
    // Every call is its own virsh process: nothing stays open.
  }

  // ---- helpers ----------------------------------------------------------------------------------

  /** Runs `virsh -c <uri> ...args` and turns a failure into DriverError or HostUnreachableError. */
  private async virsh(
    host: HostRef,
    operation: string,
    args: readonly string[],
    ctx: DriverContext,
    run: Omit<RunOptions, 'ctx'> = {},
  ): Promise<string> {
    try {
      const timeoutMs = run.timeoutMs === 0 ? undefined : (run.timeoutMs ?? this.commandTimeoutMs);
      const out = await runCommand(this.virshPath, ['-c', host.definition.address, ...args], { ...run, ctx, timeoutMs });
      return out.stdout;
    } catch (err) {
      throw this.translate(err, host, operation, ctx);
    }
  }

  private translate(err: unknown, host: HostRef, operation: string, ctx: DriverContext): Error {
    if (!(err instanceof CommandError)) return err instanceof Error ? err : new Error(String(err));
    switch (err.reason) {
      case 'aborted': {
        const reason: unknown = ctx.signal?.reason;
        return reason instanceof Error ? reason : new DriverError(DRIVER, operation, host.name, 'cancelled', false);
      }
      case 'timeout':
        return new HostUnreachableError(host.name, `virsh ${err.args[2] ?? ''} got no answer in time`);
      case 'spawn':
        return new DriverError(DRIVER, operation, host.name, `cannot run ${err.file}: ${err.stderr}`);
      default: {
        const message = libvirtMessage(err.stderr) || `virsh exited with ${err.exitCode}`;
        if (isUnreachable(err.stderr)) return new HostUnreachableError(host.name, message);
        return new DriverError(DRIVER, operation, host.name, message, !isTransient(err.stderr));
      }
    }
  }

  private async bestEffort(fn: () => Promise<unknown>): Promise<void> {
    try {
      await fn();
    } catch {
      // A compensation that fails must not hide the error that caused it.
    }
  }

  private async domainState(host: HostRef, name: string, ctx: DriverContext): Promise<{ state: string; reason: string } | undefined> {
    try {
      return parseDomState(await this.virsh(host, 'status', ['domstate', '--reason', `--domain=${name}`], ctx));
    } catch (err) {
      if (err instanceof DriverError && isDomainMissing(err.driverMessage)) return undefined;
      throw err;
    }
  }

  private async diskFacts(host: HostRef, diskPath: string | undefined, ctx: DriverContext): Promise<DiskFacts> {
    if (!diskPath) return { provisioned: false, capacityBytes: 0 };
    try {
      const info = parseFields(await this.virsh(host, 'status', ['vol-info', `--vol=${diskPath}`, '--bytes'], ctx));
      return { path: diskPath, provisioned: true, capacityBytes: parseBytes(info.get('Capacity')) };
    } catch (err) {
      if (err instanceof DriverError && isVolumeMissing(err.driverMessage)) {
        return { path: diskPath, provisioned: false, capacityBytes: 0 };
      }
      throw err;
    }
  }

  private buildXml(host: HostRef, spec: ContainerSpec): string {
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

  private async defineXml(host: HostRef, operation: string, xml: string, ctx: DriverContext): Promise<void> {
    // Without --validate: libvirt's parser says what is wrong ("Maximum CPUs greater than specified
    // machine type limit 255") where the schema check only says "Extra element vcpu in interleave".
    await this.withXmlFile(xml, (file) => this.virsh(host, operation, ['define', `--file=${file}`], ctx));
  }

  private async createVolume(host: HostRef, operation: string, pool: string, xml: string, ctx: DriverContext): Promise<void> {
    await this.withXmlFile(xml, (file) =>
      this.virsh(host, operation, ['vol-create', `--pool=${pool}`, `--file=${file}`], ctx, { step: 'creating disk' }),
    );
  }

  /** virsh reads XML from a file; the file lives only for the call. */
  private async withXmlFile<T>(xml: string, fn: (file: string) => Promise<T>): Promise<T> {
    const work = await mkdtemp(path.join(tmpdir(), 'vmflow-xml-'));
    try {
      const file = path.join(work, 'definition.xml');
      await writeFile(file, xml);
      return await fn(file);
    } finally {
      await rm(work, { recursive: true, force: true });
    }
  }

  private imageFile(host: HostRef, image: string): string {
    if (path.isAbsolute(image)) return path.normalize(image);
    const s = hostSettings(host);
    if (!s.imagePath) {
      throw new DriverError(DRIVER, 'provision', host.name, `image ${image} is relative and the host has no options.imagePath`);
    }
    const file = path.join(s.imagePath, image);
    if (!file.startsWith(`${s.imagePath}/`)) {
      throw new DriverError(DRIVER, 'provision', host.name, `image ${image} is outside options.imagePath`);
    }
    return file;
  }

  /** The pool serving `dir` on the host; defines, builds, starts and autostarts it when missing. */
  private async ensurePool(host: HostRef, dir: string, ctx: DriverContext): Promise<string> {
    const s = hostSettings(host);
    let name = dir === s.storagePath && s.storagePool ? s.storagePool : poolNameFor(dir);
    const state = async (n: string) => {
      try {
        return parseFields(await this.virsh(host, 'pool', ['pool-info', `--pool=${n}`], ctx)).get('State');
      } catch (err) {
        if (err instanceof DriverError && isPoolMissing(err.driverMessage)) return undefined;
        throw err;
      }
    };
    let current = await state(name);
    if (current === undefined) {
      if (name === s.storagePool) {
        throw new DriverError(DRIVER, 'pool', host.name, `storage pool ${name} (options.storagePool) does not exist`);
      }
      try {
        await this.withXmlFile(dirPoolXml(name, dir), (file) => this.virsh(host, 'pool', ['pool-define', `--file=${file}`], ctx));
        await this.virsh(host, 'pool', ['pool-autostart', `--pool=${name}`], ctx);
      } catch (err) {
        // The folder may already be some other pool's target: use that pool.
        const other = err instanceof DriverError ? /conflict with pool:? '([^']+)'/i.exec(err.driverMessage)?.[1] : undefined;
        if (other) name = other;
        current = await state(name);
        if (current === undefined) throw err;
      }
    }
    if (current !== 'running') {
      try {
        await this.virsh(host, 'pool', ['pool-build', `--pool=${name}`], ctx);
        await this.virsh(host, 'pool', ['pool-start', `--pool=${name}`], ctx);
      } catch (err) {
        if ((await state(name)) !== 'running') throw err; // else a concurrent call started it
      }
    }
    return name;
  }

  private async poolOfVolume(host: HostRef, volPath: string, ctx: DriverContext): Promise<string> {
    return (await this.virsh(host, 'pool', ['vol-pool', `--vol=${volPath}`], ctx)).trim();
  }

  /** Overwrites a volume with zeros (so its data does not reach the next tenant), then deletes it. */
  private async removeVolume(
    host: HostRef,
    operation: string,
    pool: string,
    vol: string,
    ctx: DriverContext,
    wipe = true,
  ): Promise<void> {
    if (wipe) {
      ctx.progress({ step: `wiping ${vol}` });
      await this.virsh(host, operation, ['vol-wipe', `--pool=${pool}`, `--vol=${vol}`], ctx, { timeoutMs: 0, step: `wiping ${vol}` });
    }
    await this.virsh(host, operation, ['vol-delete', `--pool=${pool}`, `--vol=${vol}`], ctx);
  }

  /**
   * Deletes a volume this operation is about to create, left by an earlier attempt whose process
   * died mid-copy (an agent or worker killed during a clone or migration): without this the retry
   * fails for good on "volume exists already". Callers have checked that no domain of that name
   * exists on the host, so the volume is no one else's. It holds this container's own data and
   * is overwritten next, so it is not wiped.
   */
  private async removeLeftoverVolume(host: HostRef, operation: string, pool: string, vol: string, ctx: DriverContext): Promise<void> {
    try {
      await this.virsh(host, operation, ['vol-info', `--pool=${pool}`, `--vol=${vol}`], ctx);
    } catch (err) {
      if (err instanceof DriverError && isVolumeMissing(err.driverMessage)) return;
      throw err;
    }
    ctx.progress({ step: `removing ${vol} left by an interrupted attempt` });
    await this.removeVolume(host, operation, pool, vol, ctx, false);
  }

  /**
   * Copies a volume to `targetPool` as a standalone qcow2 (no backing file, so it does not depend on
   * the source's base images). Within one daemon libvirt converts it in place; across daemons it is
   * flattened on the source and travels as a libvirt stream through this process.
   */
  private async copyVolume(
    source: HostRef,
    src: DiskFacts,
    target: HostRef,
    targetPool: string,
    newVol: string,
    operation: string,
    ctx: DriverContext,
  ): Promise<void> {
    const srcPool = await this.poolOfVolume(source, src.path!, ctx);
    const srcVol = path.basename(src.path!);
    const standalone = (name: string) => volumeXml({ name, capacityBytes: src.capacityBytes, format: 'qcow2' });
    const convert = (host: HostRef, pool: string, name: string, step: string) =>
      this.withXmlFile(standalone(name), (file) =>
        this.virsh(host, operation, ['vol-create-from', `--pool=${pool}`, `--file=${file}`, `--inputpool=${srcPool}`, `--vol=${srcVol}`], ctx, {
          timeoutMs: 0,
          step,
        }),
      );
    if (source.definition.address === target.definition.address) {
      ctx.progress({ step: 'copying disk' });
      await this.removeLeftoverVolume(target, operation, targetPool, newVol, ctx);
      await convert(target, targetPool, newVol, 'copying disk');
      return;
    }
    const flat = `${newVol}.vmflow-copy`;
    const work = await mkdtemp(path.join(tmpdir(), 'vmflow-copy-'));
    const local = path.join(work, 'disk.qcow2');
    let uploaded = false;
    try {
      ctx.progress({ step: 'flattening disk on the source', fraction: 0 });
      await this.removeLeftoverVolume(source, operation, srcPool, flat, ctx);
      await convert(source, srcPool, flat, 'flattening disk');
      try {
        ctx.progress({ step: 'downloading disk', fraction: 0.25 });
        await this.virsh(source, operation, ['vol-download', `--pool=${srcPool}`, `--vol=${flat}`, `--file=${local}`], ctx, {
          timeoutMs: 0,
          step: 'downloading disk',
        });
      } finally {
        await this.bestEffort(() => this.virsh(source, operation, ['vol-delete', `--pool=${srcPool}`, `--vol=${flat}`], ctx));
      }
      // A raw, empty volume takes the uploaded qcow2 byte for byte; the refresh re-reads its format.
      await this.removeLeftoverVolume(target, operation, targetPool, newVol, ctx);
      await this.createVolume(target, operation, targetPool, volumeXml({ name: newVol, capacityBytes: 0, format: 'raw' }), ctx);
      uploaded = true;
      ctx.progress({ step: 'uploading disk', fraction: 0.6 });
      await this.virsh(target, operation, ['vol-upload', `--pool=${targetPool}`, `--vol=${newVol}`, `--file=${local}`], ctx, {
        timeoutMs: 0,
        step: 'uploading disk',
      });
      await this.virsh(target, operation, ['pool-refresh', `--pool=${targetPool}`], ctx);
      ctx.progress({ step: 'disk copied', fraction: 1 });
    } catch (err) {
      if (uploaded) await this.bestEffort(() => this.removeVolume(target, operation, targetPool, newVol, ctx, false));
      throw err;
    } finally {
      await rm(work, { recursive: true, force: true });
    }
  }

  /** Both ends see the same disk files: same storage folder on the same machine. */
  private async sharedStorage(source: HostRef, target: HostRef, ctx: DriverContext): Promise<boolean> {
    if (hostSettings(source).storagePath !== hostSettings(target).storagePath) return false;
    const [a, b] = await Promise.all([
      this.virsh(source, 'migrate', ['hostname'], ctx),
      this.virsh(target, 'migrate', ['hostname'], ctx),
    ]);
    return a.trim() === b.trim();
  }

  private configDir(s: LibvirtHostSettings, name: string): string {
    return path.join(s.storagePath, `${name}.config`);
  }

  private async copyConfigDir(
    from: LibvirtHostSettings,
    fromName: string,
    to: LibvirtHostSettings,
    toName: string,
    move: boolean,
  ): Promise<void> {
    const src = this.configDir(from, fromName);
    const dest = this.configDir(to, toName);
    if (src === dest || !(await exists(src))) return;
    await cp(src, dest, { recursive: true, force: true });
    if (move) await rm(src, { recursive: true, force: true });
  }
}
