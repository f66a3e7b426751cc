// Readers for virsh's text output (run with LC_ALL=C, so the labels are stable).
import type { ObservedState } from '../driver';

/** `Key:   value` lines (nodeinfo, dominfo, pool-info, vol-info) into a map keyed by label. */
export function parseFields(out: string): Map<string, string> {
  const fields = new Map<string, string>();
  for (const line of out.split('\n')) {
    const i = line.indexOf(':');
    if (i <= 0) continue;
    fields.set(line.slice(0, i).trim(), line.slice(i + 1).trim());
  }
  return fields;
}

/** `nodememstats`: `total  :  24684084 KiB` lines, values in KiB. */
export function parseMemStats(out: string): Map<string, number> {
  const stats = new Map<string, number>();
  for (const [k, v] of parseFields(out)) {
    const m = /^(\d+)\s*KiB$/.exec(v);
    if (m) stats.set(k, Number(m[1]));
  }
  return stats;
}

/** `nodecpustats --percent`: the busy share of all CPUs, 0..1. */
export function parseCpuBusy(out: string): number {
  const f = parseFields(out);
  const usage = /([\d.]+)%/.exec(f.get('usage') ?? '');
  if (usage) return Number(usage[1]) / 100;
  const idle = /([\d.]+)%/.exec(f.get('idle') ?? '');
  return idle ? 1 - Number(idle[1]) / 100 : 0;
}

/** A number with an optional `bytes` suffix (`vol-info --bytes`, `pool-info --bytes`). */
export function parseBytes(v: string | undefined): number {
  const m = /^(\d+)/.exec(v ?? '');
  return m ? Number(m[1]) : 0;
}

/** `list --name`: one name a line. */
export function parseNames(out: string): string[] {
  return out
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l.length > 0);
}

/** `domstate --reason`: `running (booted)` into state and reason. */
export function parseDomState(out: string): { state: string; reason: string } {
  const line = out.trim().split('\n')[0] ?? '';
  const m = /^(.*?)\s*(?:\((.*)\))?$/.exec(line.trim());
  return { state: (m?.[1] ?? '').trim(), reason: (m?.[2] ?? '').trim() };
}

/**
 * libvirt's state and reason as vmflow's ObservedState. A shut-off domain is `defined` until it
 * has a disk, then `stopped`.
 */
export function observedState(state: string, reason: string, provisioned: boolean): ObservedState {
  switch (state) {
    case 'running':
    case 'idle':
    case 'blocked':
    case 'in shutdown':
      return 'running';
    case 'paused':
      return /migrat/.test(reason) ? 'migrating' : 'suspended';
    case 'pmsuspended':
      return 'suspended';
    case 'crashed':
      return 'crashed';
    case 'shut off':
      if (reason === 'crashed') return 'crashed';
      return provisioned ? 'stopped' : 'defined';
    default:
      // 'dying' and 'no state': on the way down.
      return provisioned ? 'stopped' : 'defined';
  }
}

/**
 * libvirt's own message from virsh's stderr: the `error: ...` lines and the detail lines after
 * them (schema validation explains itself there), joined.
 */
export function libvirtMessage(stderr: string): string {
  const lines = stderr.split('\n').map((l) => l.trim());
  const first = lines.findIndex((l) => l.startsWith('error:'));
  if (first < 0) return stderr.trim();
  return lines
    .slice(first)
    .map((l) => (l.startsWith('error:') ? l.slice('error:'.length).trim() : l))
    .filter((l) => l.length > 0)
    .join(': ');
}

const UNREACHABLE = [
  /failed to connect to the hypervisor/i,
  /failed to connect socket/i,
  /unable to connect to server/i,
  /connection refused/i,
  /end of file while reading data/i,
  /cannot recv data/i,
  /cannot write data/i,
  /client socket is closed/i,
  /disconnected from .* due to/i,
  /keepalive timeout/i,
  /no valid connection/i,
  /connection reset by peer/i,
  /broken pipe/i,
  /no route to host/i,
  /host key verification failed/i,
  /ssh: connect to host/i,
];

/** Whether virsh's stderr says the daemon did not answer (rather than refused). */
export function isUnreachable(stderr: string): boolean {
  return UNREACHABLE.some((re) => re.test(stderr));
}

const TRANSIENT = [/cannot acquire state change lock/i, /timed out during operation/i];

/** Whether a refusal may go away by itself, so Temporal should retry. */
export function isTransient(stderr: string): boolean {
  return TRANSIENT.some((re) => re.test(stderr));
}

export function isDomainMissing(stderr: string): boolean {
  return /failed to get domain|domain not found/i.test(stderr);
}

export function isVolumeMissing(stderr: string): boolean {
  return /failed to get vol|storage volume not found/i.test(stderr);
}

export function isPoolMissing(stderr: string): boolean {
  return /failed to get pool|storage pool not found/i.test(stderr);
}

export function isNotRunning(stderr: string): boolean {
  return /domain is not running/i.test(stderr);
}
