// A long-lived placer: placeAndClaim over an Allocator working copy kept between placements,
// instead of a hostSnapshot() per placement. The registry's claim stays the judge (it re-checks
// capacity under the host's row lock); the copy is read again only when it proved wrong (a claim
// lost a race, the claimed host is gone, or it found no host and was not read during this call)
// or when it is older than `maxAgeMs`.
//
// A copy learns only its own claims between reads: it is optimistic about other processes' claims
// (the registry refuses, the copy is read again) and pessimistic about releases (it is read again
// before it refuses, and every `maxAgeMs`). Right after a read, though, bin-pack sends every placer
// to the same fullest host, which is the one another placer is filling: with `shard`, each placer
// prefers its own share of the hosts and only reaches into the others' when its share is full.
import { NoCapacityError } from '../domain/errors';
import { seededRandom } from '../domain/seeded-random';
import type { ClaimRequest, Registry } from '../registry/types';
import { Allocator } from './allocator';
import { DEFAULT_MAX_ATTEMPTS, type ClaimedPlacement, type PlaceAndClaimOptions, type SkippedHost } from './claim';
import { firstRejection, prepareChecks } from './filters';
import { DEFAULT_TOP } from './place';
import type { Placement, PlacementRequest } from './types';
import { groupsOf } from './working-copy';

export type PlacerOptions = PlaceAndClaimOptions & {
  /** Refresh the working copy when it is older than this, in ms, so that releases are seen. Default 10,000. */
  readonly maxAgeMs?: number;
  /**
   * Prefer one share of the hosts: those whose id hashes to `index` modulo `count`. The others are
   * placed on only when none of these fits. Placers with different shares fill different hosts
   * instead of converging, after each read, on the same fullest host (bin-pack's choice); the
   * packing is as tight within a share, and the shares' leftovers are packed last by everyone.
   */
  readonly shard?: { readonly index: number; readonly count: number };
};

export const DEFAULT_MAX_AGE_MS = 10_000;

/** One read of the registry: the whole cluster, and the share of it this placer prefers. */
interface WorkingCopy {
  readonly all: Allocator;
  readonly mine?: { readonly allocator: Allocator; readonly hosts: ReadonlySet<string> };
}

export class Placer {
  private working: WorkingCopy | undefined;
  /** When the current copy was read (Date.now()). */
  private takenAt = 0;
  /** Bumped by every read: a placement knows whether its copy was read during it. */
  private generation = 0;
  private refreshing: Promise<WorkingCopy> | undefined;
  private readonly random: () => number;

  constructor(
    private readonly registry: Pick<Registry, 'hostSnapshot' | 'claim'>,
    private readonly options: PlacerOptions = {},
  ) {
    this.random = seededRandom((options.seed ?? 0) ^ 0x9e3779b9);
  }

  /** Drops the working copy: the next placement reads a fresh snapshot. */
  invalidate(): void {
    this.working = undefined;
  }

  /**
   * As placeAndClaim: places the request and claims the best host, at most `maxAttempts` claims.
   * After a lost race the copy is read again before the next claim. A copy that finds no host is
   * read again before refusing, unless it was read during this call. Throws NoCapacityError with
   * the freshest copy's rejections, the hosts that filled up (`full on cpu when claimed`) and the
   * feasible hosts not tried. With a `shard`, the placement returned is over the share's hosts
   * when one of them was taken.
   */
  async placeAndClaim(request: PlacementRequest, claimBase: Omit<ClaimRequest, 'hostId' | 'resources'>): Promise<ClaimedPlacement> {
    const { maxAttempts: asked, maxAgeMs: _maxAge, seed: _seed, shard: _shard, ...placeOptions } = this.options;
    const maxAttempts = Math.max(1, asked ?? DEFAULT_MAX_ATTEMPTS);
    const options = { ...placeOptions, top: Math.max(placeOptions.top ?? DEFAULT_TOP, maxAttempts) };
    const groups = claimBase.groups ?? groupsOf(request);
    const claimed: PlacementRequest = { ...request, groups };
    const skipped: SkippedHost[] = [];
    const startedAt = this.generation;
    let attempts = 0;
    for (;;) {
      const copy = await this.copy();
      const fresh = this.generation !== startedAt;
      const preferred = copy.mine?.allocator.place(request, options);
      const placement = preferred?.candidates.length ? preferred : copy.all.place(request, options);
      // After a lost race, the other placers that lost it read the same fresh snapshot and would all
      // go for the same next host: a retry takes one of the best `maxAttempts` at random instead.
      const pick = skipped.length ? Math.floor(this.random() * Math.min(maxAttempts, placement.candidates.length)) : 0;
      const best = placement.candidates[pick];
      if (!best) {
        if (fresh) throw this.refusal(copy.all, request, placement, skipped, attempts);
        this.invalidate();
        continue;
      }
      if (attempts >= maxAttempts) throw this.refusal(copy.all, request, copy.all.place(request, options), skipped, attempts);
      attempts++;
      try {
        const placeholder = await this.registry.claim({ ...claimBase, groups, hostId: best.hostId, resources: request.resources });
        this.remember(best.hostId, claimed);
        return { placeholder, placement, attempts, skipped };
      } catch (err) {
        // A host that filled up, or that is gone since the copy was read: the copy is wrong.
        const reason = isNoCapacity(err) ? reasonOf(err) : isHostGone(err, best.hostId) ? 'gone' : undefined;
        if (reason === undefined) throw err;
        skipped.push({ hostId: best.hostId, reason });
        if (this.working === copy) this.invalidate();
      }
    }
  }

  /** Adds a claim to the current copy (which a concurrent call may have replaced while it ran). */
  private remember(hostId: string, request: PlacementRequest): void {
    const copy = this.working;
    if (!copy) return;
    try {
      copy.all.commit(hostId, request);
      if (copy.mine?.hosts.has(hostId)) copy.mine.allocator.commit(hostId, request);
    } catch {
      // The host is not in a copy read meanwhile: that copy is wrong about it, read another.
      this.invalidate();
    }
  }

  /** The working copy, read again when there is none or it is too old; one read at a time. */
  private async copy(): Promise<WorkingCopy> {
    const maxAge = this.options.maxAgeMs ?? DEFAULT_MAX_AGE_MS;
    if (this.working && Date.now() - this.takenAt <= maxAge) return this.working;
    this.refreshing ??= (async () => {
      try {
        const takenAt = Date.now();
        const hosts = await this.registry.hostSnapshot();
        const { maxAttempts: _a, maxAgeMs: _m, shard, ...allocatorOptions } = this.options;
        let mine: WorkingCopy['mine'];
        if (shard && shard.count > 1) {
          const share = hosts.filter((h) => hashOf(h.id) % shard.count === shard.index % shard.count);
          mine = { allocator: new Allocator(share, allocatorOptions), hosts: new Set(share.map((h) => h.id)) };
        }
        const working: WorkingCopy = { all: new Allocator(hosts, allocatorOptions), ...(mine ? { mine } : {}) };
        this.working = working;
        this.takenAt = takenAt;
        this.generation++;
        return working;
      } finally {
        this.refreshing = undefined;
      }
    })();
    return this.refreshing;
  }

  /**
   * The refusal, counted over the freshest copy so that every host is counted once: hosts that lost
   * a race in this call move from their rejection (or from the feasible ones) to `<reason> when
   * claimed`; feasible hosts left untried are `not tried after <n> claims`.
   */
  private refusal(
    allocator: Allocator,
    request: PlacementRequest,
    placement: Placement,
    skipped: readonly SkippedHost[],
    attempts: number,
  ): NoCapacityError {
    const reasons: Record<string, number> = { ...placement.rejections };
    const rejected = Object.values(placement.rejections).reduce((a, b) => a + b, 0);
    const hosts = allocator.hosts();
    let feasible = hosts.length - rejected;
    if (skipped.length) {
      const byId = new Map(hosts.map((h) => [h.id, h]));
      const lastReason = new Map(skipped.map((s) => [s.hostId, s.reason]));
      const checks = prepareChecks(request);
      for (const [hostId, reason] of lastReason) {
        const host = byId.get(hostId);
        if (!host) continue;
        const now = firstRejection(checks, host);
        if (now === undefined) feasible--;
        else if ((reasons[now] ?? 0) > 1) reasons[now]!--;
        else delete reasons[now];
        const label = `${reason} when claimed`;
        reasons[label] = (reasons[label] ?? 0) + 1;
      }
    }
    if (feasible > 0) reasons[`not tried after ${attempts} claims`] = feasible;
    return new NoCapacityError(request.name, reasons, request.hint);
  }
}

/** FNV-1a of a host id: which share it belongs to. */
function hashOf(id: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < id.length; i++) h = Math.imul(h ^ id.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

function isNoCapacity(err: unknown): err is NoCapacityError {
  return err instanceof NoCapacityError || (err as { code?: unknown } | null)?.code === 'NO_CAPACITY';
}

/** The registry's answer to a claim on a host that is no longer there. */
function isHostGone(err: unknown, hostId: string): boolean {
  const e = err as { code?: unknown; ref?: unknown } | null;
  return e?.code === 'NOT_FOUND' && e.ref === hostId;
}

function reasonOf(err: NoCapacityError): string {
  const named = Object.keys(err.reasons ?? {});
  return named.length ? named.join(', ') : 'full';
}
