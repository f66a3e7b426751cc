// Migration between two libvirt daemons: live (virsh migrate, the disk mirrored when the hosts do
// not share storage) for a running domain, cold (disk copied, definition moved) for a stopped one.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { posix as path } from 'node:path';
import { DriverError } from '../../domain/errors';
import type { ContainerSpec, DriverContext, HostRef, MigrateOptions } from '../driver';
import type { ConfigFiles } from './config-files';
import { parseDomainXml, rewriteDiskSource } from './domain-xml';
import { assertSafeName, DRIVER, hostSettings, volumeName, type DriverTimings } from './settings';
import { bestEffort, delay } from './steps';
import type { DiskFacts, Storage } from './storage';
import { volumeXml } from './storage-xml';
import type { Virsh } from './virsh';
import { parseFields } from './virsh-output';

/** What both kinds of migration know about the domain and where it goes. */
interface MigrationPlan {
  readonly source: HostRef;
  readonly target: HostRef;
  readonly name: string;
  /** Both ends see the same disk files. */
  readonly shared: boolean;
  /** The disk is copied to the target's storage. */
  readonly moveDisk: boolean;
  readonly disk: DiskFacts;
  readonly targetPool: string;
  readonly inactiveXml: string;
  /** A definition of the domain pointed at its disk on the target. */
  readonly retarget: (xml: string) => string;
}

export class Migration {
  constructor(
    private readonly virsh: Virsh,
    private readonly storage: Storage,
    private readonly configFiles: ConfigFiles,
    private readonly timings: Pick<DriverTimings, 'pollMs' | 'commandTimeoutMs'>,
  ) {}

  async migrate(source: HostRef, target: HostRef, spec: ContainerSpec, options: MigrateOptions, ctx: DriverContext): Promise<void> {
    const name = spec.name;
    assertSafeName(source, 'migrate', name);
    if (source.definition.address === target.definition.address) {
      throw new DriverError(DRIVER, 'migrate', source.name, `source and target are the same libvirt connection`);
    }
    const st = await this.virsh.domainState(source, name, ctx);
    if (!st) throw new DriverError(DRIVER, 'migrate', source.name, `domain ${name} is not defined`);
    const active = st.state !== 'shut off';
    if (active && !options.live) {
      throw new DriverError(DRIVER, 'migrate', source.name, `domain ${name} is ${st.state}: a cold migration needs it stopped`);
    }
    await this.virsh.run(target, 'migrate', ['uri'], ctx); // the target answers before anything moves
    if (await this.virsh.domainState(target, name, ctx)) {
      throw new DriverError(DRIVER, 'migrate', target.name, `a domain named ${name} already exists`);
    }
    const plan = await this.plan(source, target, name, ctx);
    if (active) await this.migrateLive(plan, ctx);
    else await this.migrateCold(plan, ctx);
    if (plan.moveDisk) {
      ctx.progress({ step: 'wiping the disk left on the source' });
      await this.storage.removeVolumeAt(source, 'migrate', plan.disk.path!, ctx);
    }
    if (!plan.shared) await this.configFiles.copy(source, name, target, name, true);
  }

  private async plan(source: HostRef, target: HostRef, name: string, ctx: DriverContext): Promise<MigrationPlan> {
    const t = hostSettings(target);
    const shared = await this.sharedStorage(source, target, ctx);
    const inactiveXml = await this.virsh.run(source, 'migrate', ['dumpxml', '--inactive', '--migratable', `--domain=${name}`], ctx);
    const diskPath = parseDomainXml(inactiveXml).diskPath;
    const disk = await this.storage.diskFacts(source, diskPath, ctx);
    const targetPool = await this.storage.containerPool(target, ctx);
    const targetDisk = path.join(t.storagePath, volumeName(name));
    return {
      source,
      target,
      name,
      shared,
      moveDisk: !shared && disk.provisioned && disk.path !== undefined,
      disk,
      targetPool,
      inactiveXml,
      // Without shared storage the definition points at the target's folder, disk or not (yet).
      retarget: (xml) => (!shared && diskPath ? rewriteDiskSource(xml, diskPath, targetDisk) : xml),
    };
  }

  /** Both ends see the same disk files: same storage folder on the same machine. */
  private async sharedStorage(source: HostRef, target: HostRef, ctx: DriverContext): Promise<boolean> {
    if (hostSettings(source).storagePath !== hostSettings(target).storagePath) return false;
    const [a, b] = await Promise.all([
      this.virsh.run(source, 'migrate', ['hostname'], ctx),
      this.virsh.run(target, 'migrate', ['hostname'], ctx),
    ]);
    return a.trim() === b.trim();
  }

  private async migrateLive(m: MigrationPlan, ctx: DriverContext): Promise<void> {
    const t = hostSettings(m.target);
    const host = t.migrationHost.includes(':') ? `[${t.migrationHost}]` : t.migrationHost;
    const args = [
      'migrate',
      '--live',
      '--persistent',
      '--undefinesource',
      '--verbose',
      `--domain=${m.name}`,
      `--desturi=${t.uri}`,
      `--migrateuri=tcp://${host}`,
    ];
    // The two daemons share a filesystem here, which libvirt cannot tell from a local disk.
    if (m.shared) args.push('--unsafe');
    const work = await mkdtemp(path.join(tmpdir(), 'vmflow-migrate-'));
    let precreated = false;
    try {
      if (m.moveDisk) {
        args.push(...(await this.prepareDiskCopy(m, work, ctx)));
        precreated = true;
      }
      await this.abortLeftoverMigration(m.source, m.name, ctx);
      ctx.progress({ step: 'live migration', fraction: 0 });
      await this.virsh.run(m.source, 'migrate', args, ctx, {
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
        await bestEffort(() => this.storage.removeVolume(m.target, 'migrate', m.targetPool, volumeName(m.name), ctx, false));
      }
      throw err;
    } finally {
      await rm(work, { recursive: true, force: true });
    }
  }

  /**
   * --copy-storage-all mirrors the disk (backing chain flattened) into a volume that must exist:
   * creates it, writes the retargeted definitions into `work` and returns the arguments naming them.
   */
  private async prepareDiskCopy(m: MigrationPlan, work: string, ctx: DriverContext): Promise<string[]> {
    const liveXml = await this.virsh.run(m.source, 'migrate', ['dumpxml', '--migratable', `--domain=${m.name}`], ctx);
    await writeFile(path.join(work, 'live.xml'), m.retarget(liveXml));
    await writeFile(path.join(work, 'persistent.xml'), m.retarget(m.inactiveXml));
    const vol = volumeXml({ name: volumeName(m.name), capacityBytes: m.disk.capacityBytes, format: 'qcow2' });
    await this.storage.removeLeftoverVolume(m.target, 'migrate', m.targetPool, volumeName(m.name), ctx);
    await this.storage.createVolume(m.target, 'migrate', m.targetPool, vol, ctx);
    return ['--copy-storage-all', `--xml=${path.join(work, 'live.xml')}`, `--persistent-xml=${path.join(work, 'persistent.xml')}`];
  }

  /**
   * A virsh whose process died mid-migration (its agent or worker was killed) leaves the source's
   * migration job running until the copy fails, tens of seconds later; a new `virsh migrate` is
   * refused meanwhile. Only this container's own earlier attempt can own that job (its commands
   * run one at a time), so abort it and wait for the domain to be ours again.
   */
  private async abortLeftoverMigration(source: HostRef, name: string, ctx: DriverContext): Promise<void> {
    const job = async () => parseFields(await this.virsh.run(source, 'migrate', ['domjobinfo', `--domain=${name}`], ctx));
    let info = await job();
    if ((info.get('Job type') ?? 'None') === 'None' || !/migration/i.test(info.get('Operation') ?? '')) return;
    ctx.progress({ step: 'aborting a migration left by an interrupted attempt' });
    try {
      await this.virsh.run(source, 'migrate', ['domjobabort', `--domain=${name}`], ctx);
    } catch {
      // It may have ended on its own meanwhile; the loop below tells.
    }
    const deadline = Date.now() + this.timings.commandTimeoutMs;
    while ((info.get('Job type') ?? 'None') !== 'None') {
      if (Date.now() > deadline) {
        const what = info.get('Operation') ?? 'migration';
        throw new DriverError(DRIVER, 'migrate', source.name, `domain ${name} still has a ${what} job after aborting it`, false);
      }
      await delay(this.timings.pollMs, ctx.signal);
      info = await job();
    }
  }

  private async migrateCold(m: MigrationPlan, ctx: DriverContext): Promise<void> {
    const vol = volumeName(m.name);
    const xml = m.retarget(m.inactiveXml);
    if (m.moveDisk) await this.storage.copyVolume(m.source, m.disk, m.target, m.targetPool, vol, 'migrate', ctx);
    const undoTarget = async () => {
      if (m.moveDisk) await bestEffort(() => this.storage.removeVolume(m.target, 'migrate', m.targetPool, vol, ctx, false));
    };
    try {
      ctx.progress({ step: 'defining on the target' });
      await this.virsh.define(m.target, 'migrate', xml, ctx);
    } catch (err) {
      await undoTarget();
      throw err;
    }
    try {
      await this.virsh.undefine(m.source, 'migrate', m.name, ctx);
    } catch (err) {
      // The source keeps the container: take the copy back so it exists in one place only.
      await bestEffort(() => this.virsh.undefine(m.target, 'migrate', m.name, ctx));
      await undoTarget();
      throw err;
    }
  }
}
