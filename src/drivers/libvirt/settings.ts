// What the driver is configured with: its own options, and each host's settings read from its
// registry definition. Also the names the driver derives (pools, volumes) and the names it refuses.
import { createHash } from 'node:crypto';
import { posix as path } from 'node:path';
import { DriverError } from '../../domain/errors';
import type { HostRef } from '../driver';

export const DRIVER = 'libvirt';
export const GiB = 1024 ** 3;

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

export type DriverTimings = Required<Omit<LibvirtDriverOptions, 'virsh'>>;

export function driverTimings(options: LibvirtDriverOptions): DriverTimings {
  return {
    rebootAckMs: options.rebootAckMs ?? 30_000,
    pollMs: options.pollMs ?? 250,
    commandTimeoutMs: options.commandTimeoutMs ?? 60_000,
    statusConcurrency: options.statusConcurrency ?? 4,
  };
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
export function assertSafeName(host: HostRef, operation: string, name: string): void {
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
