// The baseline the benchmarks measure placement against: what commands placed through before the
// Placer, a full host snapshot read and scanned per placement, every placement with one seed.
import { NoCapacityError } from '../src/domain/errors';
import type { ClaimRequest, Registry } from '../src/registry/types';
import { DEFAULT_TOP, place } from '../src/allocator/place';
import { DEFAULT_MAX_ATTEMPTS, type ClaimedPlacement, type SkippedHost } from '../src/allocator/placer';
import type { AllocatorOptions, PlacementRequest } from '../src/allocator/types';
import { groupsOf } from '../src/allocator/working-copy';

export type PlaceAndClaimOptions = AllocatorOptions & {
  /** Claims to try, best candidate first, before giving up. Default 3. */
  readonly maxAttempts?: number;
};

/**
 * Places a request over a fresh snapshot and claims the best host; when the registry says that
 * host filled up meanwhile, claims the next candidate, at most `maxAttempts` claims in all.
 * Throws NoCapacityError when nothing is left: the snapshot's rejections, plus the hosts that
 * filled up (`full on memory when claimed`) and the feasible hosts not tried.
 */
export async function snapshotPlaceAndClaim(
  registry: Pick<Registry, 'hostSnapshot' | 'claim'>,
  request: PlacementRequest,
  claimBase: Omit<ClaimRequest, 'hostId' | 'resources'>,
  options: PlaceAndClaimOptions = {},
): Promise<ClaimedPlacement> {
  const { maxAttempts: asked, ...allocatorOptions } = options;
  const maxAttempts = Math.max(1, asked ?? DEFAULT_MAX_ATTEMPTS);
  const hosts = await registry.hostSnapshot();
  const placement = place(hosts, request, {
    ...allocatorOptions,
    top: Math.max(allocatorOptions.top ?? DEFAULT_TOP, maxAttempts),
  });
  const skipped: SkippedHost[] = [];
  let attempts = 0;
  for (const candidate of placement.candidates) {
    if (attempts >= maxAttempts) break;
    attempts++;
    try {
      const placeholder = await registry.claim({
        ...claimBase,
        groups: claimBase.groups ?? groupsOf(request),
        hostId: candidate.hostId,
        resources: request.resources,
      });
      return { placeholder, placement, attempts, skipped };
    } catch (err) {
      if (!isNoCapacity(err)) throw err;
      skipped.push({ hostId: candidate.hostId, reason: reasonOf(err) });
    }
  }
  const reasons: Record<string, number> = { ...placement.rejections };
  for (const s of skipped) {
    const reason = `${s.reason} when claimed`;
    reasons[reason] = (reasons[reason] ?? 0) + 1;
  }
  const rejected = Object.values(placement.rejections).reduce((a, b) => a + b, 0);
  const untried = hosts.length - rejected - attempts;
  if (untried > 0) reasons[`not tried after ${attempts} claims`] = untried;
  throw new NoCapacityError(request.name, reasons, request.hint);
}

function isNoCapacity(err: unknown): err is NoCapacityError {
  return err instanceof NoCapacityError || (err as { code?: unknown } | null)?.code === 'NO_CAPACITY';
}

function reasonOf(err: NoCapacityError): string {
  const named = Object.keys(err.reasons ?? {});
  return named.length ? named.join(', ') : 'full';
}
