// What committing a placement does to a host in a working copy: the same as a claim in the registry.
import { addResources } from '../domain/types';
import type { HostSnapshot, PlacementRequest } from './types';

/** Groups a placed container counts toward: `groups`, or else its anti-affinity and affinity groups. */
export function groupsOf(request: PlacementRequest): readonly string[] {
  if (request.groups) return request.groups;
  const all = [...(request.antiAffinity ?? []), ...(request.affinity ?? [])];
  return all.length > 1 ? [...new Set(all)] : all;
}

/** The host after it took the request: its resources and its groups added. */
export function withClaim(host: HostSnapshot, request: PlacementRequest): HostSnapshot {
  const groups: Record<string, number> = { ...host.groups };
  for (const g of groupsOf(request)) groups[g] = (groups[g] ?? 0) + 1;
  return { ...host, used: addResources(host.used, request.resources), groups };
}
