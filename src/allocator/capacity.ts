// Capacity arithmetic shared by the filters, the weighers and the index, so that all of them
// compute "fits" and "share" with the same floating-point operations. "Fits" is the domain's rule,
// the one the registry re-checks a claim with.
import { fits, freeOf as freeAmount, RESOURCES, type ResourceName } from '../domain/capacity';
import type { Resources } from '../domain/types';
import type { HostSnapshot } from './types';

export { RESOURCES, type ResourceName };

/** What is left of one resource: allowance minus used (containers and placeholders). */
export function freeOf(host: HostSnapshot, resource: ResourceName): number {
  return freeAmount(host.allowance[resource], host.used[resource]);
}

export function fitsOn(host: HostSnapshot, need: Resources, resource: ResourceName): boolean {
  return fits(need[resource], host.allowance[resource], host.used[resource]);
}

/** A host nothing is placed on yet. */
export function isEmpty(host: HostSnapshot): boolean {
  return host.used.memoryMiB === 0 && host.used.cpus === 0 && host.used.diskGiB === 0;
}

/**
 * The share of its dominant resource a host would have in use after taking `need`: the largest of
 * (used + need) / allowance. Resources the host has none of count as 0.
 */
export function dominantShareAfter(host: HostSnapshot, need: Resources): number {
  const a = host.allowance;
  const u = host.used;
  let share = 0;
  // Spelled out per resource: property loads with a variable key are several times slower.
  if (a.memoryMiB > 0) share = Math.max(share, (u.memoryMiB + need.memoryMiB) / a.memoryMiB);
  if (a.cpus > 0) share = Math.max(share, (u.cpus + need.cpus) / a.cpus);
  if (a.diskGiB > 0) share = Math.max(share, (u.diskGiB + need.diskGiB) / a.diskGiB);
  return share;
}
