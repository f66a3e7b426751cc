// The naive baseline the indexed Allocator is measured against: first fit over every host.
import { firstRejection, prepareChecks } from '../src/allocator/filters';
import type { HostSnapshot, Placement, PlacementRequest } from '../src/allocator/types';
import { withClaim } from '../src/allocator/working-copy';

/**
 * Takes the first host, in snapshot order, that passes every filter; no shuffle, no weighers. Its
 * rejections count the hosts it looked at before that one (every host when none fits), and its
 * single candidate has score 0, since first fit does not rank.
 */
export class FirstFitAllocator {
  private readonly work: HostSnapshot[];
  private readonly ids = new Map<string, number>();

  constructor(hosts: readonly HostSnapshot[]) {
    this.work = hosts.slice();
    this.work.forEach((h, i) => this.ids.set(h.id, i));
  }

  hosts(): HostSnapshot[] {
    return this.work.slice();
  }

  place(request: PlacementRequest): Placement {
    const checks = prepareChecks(request);
    const rejections: Record<string, number> = {};
    for (const host of this.work) {
      const reason = firstRejection(checks, host);
      if (reason === undefined) return { host, rejections, candidates: [{ hostId: host.id, hostName: host.name, score: 0 }] };
      rejections[reason] = (rejections[reason] ?? 0) + 1;
    }
    return { rejections, candidates: [] };
  }

  commit(hostId: string, request: PlacementRequest): void {
    const i = this.ids.get(hostId);
    if (i === undefined) throw new Error(`no host ${hostId} in the first-fit working copy`);
    this.work[i] = withClaim(this.work[i]!, request);
  }
}
