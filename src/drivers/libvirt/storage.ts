// Disks in libvirt storage pools (a `dir` pool on the host's storagePath, another on the image
// folder), so provisioning, wiping and copying go through the same URI and work on a remote host
// too: `vol-create` of a volume with a backing store is libvirt running `qemu-img create -f qcow2
// -b <base> -F qcow2` for us, `vol-create-from` is its `qemu-img convert`, and a disk moves
// between hosts as a libvirt stream (vol-download/vol-upload).
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { posix as path } from 'node:path';
import { DriverError } from '../../domain/errors';
import type { ContainerSpec, DriverContext, HostRef } from '../driver';
import { DRIVER, GiB, hostSettings, poolNameFor, volumeName } from './settings';
import { bestEffort } from './steps';
import { dirPoolXml, parseVolumeXml, volumeXml } from './storage-xml';
import { withXmlFile, type Virsh } from './virsh';
import { isPoolMissing, isVolumeMissing, parseBytes, parseFields } from './virsh-output';

/** A domain's disk as its XML and the pool report it. */
export interface DiskFacts {
  readonly path?: string;
  readonly provisioned: boolean;
  readonly capacityBytes: number;
}

/** A volume to copy: where it is and how big. */
interface CopySource {
  readonly host: HostRef;
  readonly pool: string;
  readonly vol: string;
  readonly capacityBytes: number;
}

export class Storage {
  constructor(private readonly virsh: Virsh) {}

  /** The pool of the host's storagePath, where container disks live. */
  containerPool(host: HostRef, ctx: DriverContext): Promise<string> {
    return this.ensurePool(host, hostSettings(host).storagePath, ctx);
  }

  /** Creates the container's disk: blank, or a qcow2 overlay of its image. */
  async provision(host: HostRef, spec: ContainerSpec, ctx: DriverContext): Promise<void> {
    const pool = await this.containerPool(host, ctx);
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
    await this.virsh.run(host, 'provision', ['pool-refresh', `--pool=${imagePool}`], ctx);
    const baseVolume = parseVolumeXml(await this.virsh.run(host, 'provision', ['vol-dumpxml', `--vol=${base}`], ctx));
    ctx.progress({ step: `creating disk over ${image}` });
    const xml = volumeXml({
      name,
      capacityBytes: Math.max(size, baseVolume.capacityBytes),
      format: 'qcow2',
      backing: { path: base, format: baseVolume.format },
    });
    await this.createVolume(host, 'provision', pool, xml, ctx);
  }

  async diskFacts(host: HostRef, diskPath: string | undefined, ctx: DriverContext): Promise<DiskFacts> {
    if (!diskPath) return { provisioned: false, capacityBytes: 0 };
    try {
      const info = parseFields(await this.virsh.run(host, 'status', ['vol-info', `--vol=${diskPath}`, '--bytes'], ctx));
      return { path: diskPath, provisioned: true, capacityBytes: parseBytes(info.get('Capacity')) };
    } catch (err) {
      if (err instanceof DriverError && isVolumeMissing(err.driverMessage)) {
        return { path: diskPath, provisioned: false, capacityBytes: 0 };
      }
      throw err;
    }
  }

  async createVolume(host: HostRef, operation: string, pool: string, xml: string, ctx: DriverContext): Promise<void> {
    await withXmlFile(xml, (file) =>
      this.virsh.run(host, operation, ['vol-create', `--pool=${pool}`, `--file=${file}`], ctx, { step: 'creating disk' }),
    );
  }

  /** Overwrites a volume with zeros (so its data does not reach the next tenant), then deletes it. */
  async removeVolume(host: HostRef, operation: string, pool: string, vol: string, ctx: DriverContext, wipe = true): Promise<void> {
    if (wipe) {
      ctx.progress({ step: `wiping ${vol}` });
      await this.virsh.run(host, operation, ['vol-wipe', `--pool=${pool}`, `--vol=${vol}`], ctx, { timeoutMs: 0, step: `wiping ${vol}` });
    }
    await this.virsh.run(host, operation, ['vol-delete', `--pool=${pool}`, `--vol=${vol}`], ctx);
  }

  /** Wipes and deletes the volume at `volPath`, in whatever pool holds it. */
  async removeVolumeAt(host: HostRef, operation: string, volPath: string, ctx: DriverContext): Promise<void> {
    await this.removeVolume(host, operation, await this.poolOf(host, volPath, ctx), path.basename(volPath), ctx);
  }

  /**
   * Deletes a volume this operation is about to create, left by an earlier attempt whose process
   * died mid-copy (an agent or worker killed during a clone or migration): without this the retry
   * fails for good on "volume exists already". Callers have checked that no domain of that name
   * exists on the host, so the volume is no one else's. It holds this container's own data and
   * is overwritten next, so it is not wiped.
   */
  async removeLeftoverVolume(host: HostRef, operation: string, pool: string, vol: string, ctx: DriverContext): Promise<void> {
    try {
      await this.virsh.run(host, operation, ['vol-info', `--pool=${pool}`, `--vol=${vol}`], ctx);
    } catch (err) {
      if (err instanceof DriverError && isVolumeMissing(err.driverMessage)) return;
      throw err;
    }
    ctx.progress({ step: `removing ${vol} left by an interrupted attempt` });
    await this.removeVolume(host, operation, pool, vol, ctx, false);
  }

  /**
   * Copies a provisioned disk to `targetPool` as a standalone qcow2 (no backing file, so it does not
   * depend on the source's base images). Within one daemon libvirt converts it in place; across
   * daemons it is flattened on the source and travels as a libvirt stream through this process.
   */
  async copyVolume(
    source: HostRef,
    disk: DiskFacts,
    target: HostRef,
    targetPool: string,
    newVol: string,
    operation: string,
    ctx: DriverContext,
  ): Promise<void> {
    const pool = await this.poolOf(source, disk.path!, ctx);
    const from: CopySource = { host: source, pool, vol: path.basename(disk.path!), capacityBytes: disk.capacityBytes };
    if (source.definition.address === target.definition.address) {
      ctx.progress({ step: 'copying disk' });
      await this.removeLeftoverVolume(target, operation, targetPool, newVol, ctx);
      await this.convertVolume(from, targetPool, newVol, operation, 'copying disk', ctx);
      return;
    }
    await this.streamVolume(from, target, targetPool, newVol, operation, ctx);
  }

  /** `vol-create-from` on the source's daemon: a standalone qcow2 copy in `pool`. */
  private convertVolume(from: CopySource, pool: string, name: string, operation: string, step: string, ctx: DriverContext) {
    const xml = volumeXml({ name, capacityBytes: from.capacityBytes, format: 'qcow2' });
    return withXmlFile(xml, (file) =>
      this.virsh.run(
        from.host,
        operation,
        ['vol-create-from', `--pool=${pool}`, `--file=${file}`, `--inputpool=${from.pool}`, `--vol=${from.vol}`],
        ctx,
        { timeoutMs: 0, step },
      ),
    );
  }

  /** Flattens the disk on the source, downloads it into a temp folder here and uploads it to the target. */
  private async streamVolume(
    from: CopySource,
    target: HostRef,
    targetPool: string,
    newVol: string,
    operation: string,
    ctx: DriverContext,
  ): Promise<void> {
    const flat = `${newVol}.vmflow-copy`;
    const work = await mkdtemp(path.join(tmpdir(), 'vmflow-copy-'));
    const local = path.join(work, 'disk.qcow2');
    let uploaded = false;
    try {
      ctx.progress({ step: 'flattening disk on the source', fraction: 0 });
      await this.removeLeftoverVolume(from.host, operation, from.pool, flat, ctx);
      await this.convertVolume(from, from.pool, flat, operation, 'flattening disk', ctx);
      try {
        ctx.progress({ step: 'downloading disk', fraction: 0.25 });
        const download = ['vol-download', `--pool=${from.pool}`, `--vol=${flat}`, `--file=${local}`];
        await this.virsh.run(from.host, operation, download, ctx, { timeoutMs: 0, step: 'downloading disk' });
      } finally {
        await bestEffort(() => this.virsh.run(from.host, operation, ['vol-delete', `--pool=${from.pool}`, `--vol=${flat}`], ctx));
      }
      // A raw, empty volume takes the uploaded qcow2 byte for byte; the refresh re-reads its format.
      await this.removeLeftoverVolume(target, operation, targetPool, newVol, ctx);
      await this.createVolume(target, operation, targetPool, volumeXml({ name: newVol, capacityBytes: 0, format: 'raw' }), ctx);
      uploaded = true;
      ctx.progress({ step: 'uploading disk', fraction: 0.6 });
      const upload = ['vol-upload', `--pool=${targetPool}`, `--vol=${newVol}`, `--file=${local}`];
      await this.virsh.run(target, operation, upload, ctx, { timeoutMs: 0, step: 'uploading disk' });
      await this.virsh.run(target, operation, ['pool-refresh', `--pool=${targetPool}`], ctx);
      ctx.progress({ step: 'disk copied', fraction: 1 });
    } catch (err) {
      if (uploaded) await bestEffort(() => this.removeVolume(target, operation, targetPool, newVol, ctx, false));
      throw err;
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
  async ensurePool(host: HostRef, dir: string, ctx: DriverContext): Promise<string> {
    const s = hostSettings(host);
    let name = dir === s.storagePath && s.storagePool ? s.storagePool : poolNameFor(dir);
    let current = await this.poolState(host, name, ctx);
    if (current === undefined) {
      if (name === s.storagePool) {
        throw new DriverError(DRIVER, 'pool', host.name, `storage pool ${name} (options.storagePool) does not exist`);
      }
      try {
        await withXmlFile(dirPoolXml(name, dir), (file) => this.virsh.run(host, 'pool', ['pool-define', `--file=${file}`], ctx));
        await this.virsh.run(host, 'pool', ['pool-autostart', `--pool=${name}`], ctx);
      } catch (err) {
        // The folder may already be some other pool's target: use that pool.
        const other = err instanceof DriverError ? /conflict with pool:? '([^']+)'/i.exec(err.driverMessage)?.[1] : undefined;
        if (other) name = other;
        current = await this.poolState(host, name, ctx);
        if (current === undefined) throw err;
      }
    }
    if (current !== 'running') {
      try {
        await this.virsh.run(host, 'pool', ['pool-build', `--pool=${name}`], ctx);
        await this.virsh.run(host, 'pool', ['pool-start', `--pool=${name}`], ctx);
      } catch (err) {
        if ((await this.poolState(host, name, ctx)) !== 'running') throw err; // else a concurrent call started it
      }
    }
    return name;
  }

  private async poolOf(host: HostRef, volPath: string, ctx: DriverContext): Promise<string> {
    return (await this.virsh.run(host, 'pool', ['vol-pool', `--vol=${volPath}`], ctx)).trim();
  }

  /** The pool's `State` (`running`, `inactive`, ...), or undefined when there is no such pool. */
  private async poolState(host: HostRef, name: string, ctx: DriverContext): Promise<string | undefined> {
    try {
      return parseFields(await this.virsh.run(host, 'pool', ['pool-info', `--pool=${name}`], ctx)).get('State');
    } catch (err) {
      if (err instanceof DriverError && isPoolMissing(err.driverMessage)) return undefined;
      throw err;
    }
  }
}
