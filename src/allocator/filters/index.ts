// The feasibility pipeline, cheap checks first. A host is counted under the first check it fails.
import type { Filter, HostCheck, HostSnapshot, PlacementRequest } from '../types';
import { antiAffinity } from './anti-affinity';
import { cpuFits } from './cpu-fits';
import { diskFits } from './disk-fits';
import { driverMatches } from './driver-matches';
import { hintedHost } from './hinted-host';
import { hostIsUp } from './host-is-up';
import { labelsMatch } from './labels-match';
import { memoryFits } from './memory-fits';
import { notExcluded } from './not-excluded';

export { antiAffinity, cpuFits, diskFits, driverMatches, hintedHost, hostIsUp, labelsMatch, memoryFits, notExcluded };

export const FILTERS: readonly Filter[] = [
  hintedHost,
  hostIsUp,
  driverMatches,
  labelsMatch,
  notExcluded,
  memoryFits,
  cpuFits,
  diskFits,
  antiAffinity,
];

/** The checks that depend only on what never changes in a working copy: state, driver, labels. */
export const STATIC_FILTERS: readonly Filter[] = [hostIsUp, driverMatches, labelsMatch];

/** The checks that apply to a request, in pipeline order. */
export function prepareChecks(request: PlacementRequest, filters: readonly Filter[] = FILTERS): HostCheck[] {
  const checks: HostCheck[] = [];
  for (const f of filters) {
    const check = f.prepare(request);
    if (check) checks.push(check);
  }
  return checks;
}

/** The reason of the first check the host fails, or undefined when it passes them all. */
export function firstRejection(checks: readonly HostCheck[], host: HostSnapshot): string | undefined {
  for (const check of checks) {
    const reason = check(host);
    if (reason !== undefined) return reason;
  }
  return undefined;
}
