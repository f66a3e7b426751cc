// Turning a placement's rejection counts into words a person can act on.
import { NoCapacityError } from '../domain/errors';
import { reasonOrder } from './reasons';
import type { Placement, PlacementRequest } from './types';

/** Reasons with their counts, most hosts first; equal counts in pipeline order. */
export function rejectionsByCount(rejections: Readonly<Record<string, number>>): Array<[string, number]> {
  return Object.entries(rejections)
    .filter(([, n]) => n > 0)
    .sort((a, b) => b[1] - a[1] || reasonOrder(a[0]) - reasonOrder(b[0]) || (a[0] < b[0] ? -1 : 1));
}

/** `12 hosts full on memory, 3 down, 1 excluded by anti-affinity`. */
export function explain(placement: Placement): string {
  const parts = rejectionsByCount(placement.rejections).map(([reason, n], i) =>
    i === 0 ? `${n} ${n === 1 ? 'host' : 'hosts'} ${reason}` : `${n} ${reason}`,
  );
  if (parts.length) return parts.join(', ');
  return placement.host ? 'no host rejected' : 'no hosts registered';
}

/** The error for a placement that found no host; it carries the rejection counts as its reasons. */
export function noCapacityError(request: PlacementRequest, placement: Placement): NoCapacityError {
  return new NoCapacityError(request.name, placement.rejections, request.hint);
}
