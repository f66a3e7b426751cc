// Whether a request fits on a host: the one rule the allocator's filters and the registry's
// in-transaction re-check both apply, so that they agree on every boundary. Pure: importable by
// workflow code.
import type { Resources } from './types';

/** The resources, in the order they are checked: the first one short is the one reported. */
export const RESOURCES = ['memoryMiB', 'cpus', 'diskGiB'] as const;
export type ResourceName = (typeof RESOURCES)[number];

/** The word for a resource in reasons such as `full on cpu`. */
export const RESOURCE_WORDS: Readonly<Record<ResourceName, string>> = { memoryMiB: 'memory', cpus: 'cpu', diskGiB: 'disk' };

/** What is left of one resource: allowance minus used (containers and live placeholders). */
export function freeOf(allowance: number, used: number): number {
  return allowance - used;
}

/**
 * `need` fits in what is left. Compared against the free amount, without tolerance, so that an
 * index of hosts sorted by free amount finds exactly the hosts this accepts.
 */
export function fits(need: number, allowance: number, used: number): boolean {
  return need <= freeOf(allowance, used);
}

/** The first resource, in check order, that `need` would push over the allowance; undefined when it fits. */
export function shortResource(allowance: Resources, used: Resources, need: Resources): ResourceName | undefined {
  for (const r of RESOURCES) {
    if (!fits(need[r], allowance[r], used[r])) return r;
  }
  return undefined;
}
