// How commands place: an indexed working copy of the hosts (an Allocator) kept per process, and
// the registry's claim, which re-checks capacity under the host's row lock, as the judge.
//
// The copy is read in full once, then kept current by what changes: each claim of this process is
// added to it before the claim is sent (so concurrent placements in the process see each other),
// and a host whose claim the registry refused (it filled up, drained, or went) is read again, with
// the placement's other candidates: the copy was wrong there, so likely about them too. While a
// share of this process's recent claims is refused (others take the same hosts), each placement
// also reads its best candidates before claiming; otherwise it claims on the copy's word, and
// placements in flight together share the registry's claim transactions (see
// registry/claim-batch.ts) instead of each waiting for a read first. Claims and reads take turns
// (Turns), so a read never misses or double-counts a claim of this process. Releases elsewhere
// are seen when the copy is read again in full: every `maxAgeMs`, and before a placement is
// refused on a copy that was not read during it. So no decision costs a full read, and no
// refusal rests on an old one.
//
// Each Placer orders equally good hosts by its own seed, so processes placing at the same moment
// on a fleet of equal hosts start on different ones and mostly fill their own. Each placement has
// its own seed (the hash of its command id, as Nomad seeds with the evaluation id): among the best
// candidates that score the same, the seed chooses, so commands placing at the same moment spread
// over equally good hosts instead of all claiming the same one.
import { NoCapacityError } from '../domain/errors';
import { seededRandom } from '../domain/seeded-random';
import type { NodeRecord } from '../domain/types';
import type { ClaimRequest, Registry } from '../registry/types';
import { Allocator } from './allocator';
import { firstRejection, prepareChecks } from './filters';
import { DEFAULT_TOP, place } from './place';
import type { AllocatorOptions, GroupOptions, HostSnapshot, Placement, PlacementRequest, ScoredCandidate } from './types';
import { groupsOf } from './working-copy';

export const DEFAULT_MAX_ATTEMPTS = 3;
export const DEFAULT_MAX_AGE_MS = 60_000;
/** Equally good candidates a placement's seed chooses among. */
export const DEFAULT_SPREAD = 8;
/** Reads of the best candidates before a claim, at most, per placement (when contended). */
const MAX_READ_ROUNDS = 3;
/** Claims the refused share is averaged over, about. */
const REFUSED_WINDOW = 32;
/** Above this share of recent claims refused, placements read their best candidates before claiming. */
const CONTENDED_SHARE = 0.05;

export type PlacerOptions = AllocatorOptions & {
  /**
   * Orders equally good hosts in the working copy. Default: drawn per Placer, so that processes
   * placing at the same moment on a fleet of equal hosts each prefer different ones.
   */
  readonly seed?: number;
  /** Claims to try, best candidate first, before giving up. Default 3. */
  readonly maxAttempts?: number;
  /** Read the working copy again in full when it is older than this, in ms, so that releases are seen. Default 60,000. */
  readonly maxAgeMs?: number;
  /** How many equally good candidates a placement's seed chooses among. Default 8; 1 takes the first, as place() does. */
  readonly spread?: number;
};

/** The registry calls placement makes: a read of every host (or of some), and the claim. */
export type PlacementRegistry = Pick<Registry, 'claim'> &
  Partial<Pick<Registry, 'claimAll'>> & {
  hostSnapshot(hostIds?: readonly string[]): Promise<HostSnapshot[]>;
};

export interface SkippedHost {
  readonly hostId: string;
  /** Why the registry refused the claim (`full on memory`, `gone`): the copy was wrong about the host. */
  readonly reason: string;
}

export interface ClaimedPlacement {
  /** The placeholder the registry created: capacity held on the chosen host. */
  readonly placeholder: NodeRecord;
  /** The placement over the working copy that led to the claim that was made. */
  readonly placement: Placement;
  /** Claims made, the successful one included. */
  readonly attempts: number;
  /** Candidates whose claim the registry refused, in the order tried. */
  readonly skipped: readonly SkippedHost[];
}

/** A placement's seed from its command id (FNV-1a): the same command always draws the same way. */
export function seedOf(commandId: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < commandId.length; i++) h = Math.imul(h ^ commandId.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

/**
 * The host a placement claims first, as a pure function of the registry's snapshot: place() over
 * it in the working copy's order (the Placer's seed, `options.seed`), then the command's seed
 * drawing among the equally best.
 */
export function firstChoice(hosts: readonly HostSnapshot[], request: PlacementRequest, commandSeed: number, options: PlacerOptions = {}): string | undefined {
  const { maxAttempts, maxAgeMs: _maxAge, spread: askedSpread, seed = 0, ...placeOptions } = options;
  const spread = Math.max(1, askedSpread ?? DEFAULT_SPREAD);
  const top = Math.max(placeOptions.top ?? DEFAULT_TOP, Math.max(1, maxAttempts ?? DEFAULT_MAX_ATTEMPTS), spread);
  const placement = place(hosts, request, { ...placeOptions, top, seed });
  return pickAmongEqual(placement.candidates, spread, seededRandom(commandSeed))?.hostId;
}

export class Placer {
  private working: Allocator | undefined;
  /** When the current copy was read (Date.now()). */
  private takenAt = 0;
  /** Bumped by every full read: a placement knows whether its copy was read during it. */
  private generation = 0;
  private refreshing: Promise<Allocator> | undefined;
  private reads = 0;
  private hostReads = 0;
  /** Claims of this process in flight, per host: held in the copy, and again after a host is read. */
  private readonly pending = new Map<string, PlacementRequest[]>();
  private readonly turns = new Turns();
  /** Share of this Placer's recent claims the registry refused: how stale the copy is where it places. */
  private refusedShare = 0;
  /** The working copy's order of equally good hosts. */
  readonly seed: number;

  constructor(
    private readonly registry: PlacementRegistry,
    private readonly options: PlacerOptions = {},
  ) {
    this.seed = options.seed ?? Math.floor(Math.random() * 2 ** 32);
  }

  /** Full reads, and reads of some hosts, made so far. */
  get counts(): { readonly reads: number; readonly hostReads: number } {
    return { reads: this.reads, hostReads: this.hostReads };
  }

  /** The working copy as it stands (every host, its usage and groups); undefined before the first read. */
  workingCopy(): HostSnapshot[] | undefined {
    return this.working?.hosts();
  }

  /** Reads these hosts again into the working copy, with this process's claims in flight on them held again. */
  async readAgain(hostIds: readonly string[]): Promise<void> {
    if (this.working) await this.readHosts(this.working, hostIds);
  }

  /** Drops the working copy: the next placement reads every host. */
  invalidate(): void {
    this.working = undefined;
  }

  /**
   * Places the request on the working copy and claims the chosen host, at most `maxAttempts`
   * claims. A refused claim reads that host again and tries the next candidate (one of the best
   * `maxAttempts`, drawn by the seed). A copy that finds no host is read again before refusing,
   * unless it was read during this call. Throws NoCapacityError with the freshest copy's
   * rejections: every host counted once, those that refused a claim as `<reason> when claimed`,
   * feasible hosts left untried as `not tried after <n> claims`. The seed defaults to the hash of
   * the command id.
   */
  async placeAndClaim(
    request: PlacementRequest,
    claimBase: Omit<ClaimRequest, 'hostId' | 'resources'>,
    seed: number = seedOf(claimBase.commandId),
  ): Promise<ClaimedPlacement> {
    const { maxAttempts: asked, maxAgeMs: _maxAge, spread: askedSpread, seed: _seed, ...placeOptions } = this.options;
    const maxAttempts = Math.max(1, asked ?? DEFAULT_MAX_ATTEMPTS);
    const spread = Math.max(1, askedSpread ?? DEFAULT_SPREAD);
    const options = { ...placeOptions, top: Math.max(placeOptions.top ?? DEFAULT_TOP, maxAttempts, spread) };
    const groups = claimBase.groups ?? groupsOf(request);
    const claimed: PlacementRequest = { ...request, groups };
    const random = seededRandom(seed);
    const skipped: SkippedHost[] = [];
    /** Hosts read during this call, in the copy of that generation. */
    const read = new Set<string>();
    let readIn = -1;
    const startedAt = this.generation;
    let attempts = 0;
    for (let rounds = 0; ; rounds++) {
      const copy = await this.copy();
      const fresh = this.generation !== startedAt;
      if (readIn !== this.generation) {
        read.clear();
        readIn = this.generation;
      }
      const placement = copy.place(request, options);
      // The first claim's draw is the seed's first, however often the candidates were read again
      // before it: the same command on the same copy always claims the same host first.
      const best = skipped.length ? pickAmong(placement.candidates, maxAttempts, random) : pickAmongEqual(placement.candidates, spread, seededRandom(seed));
      if (!best) {
        if (fresh) throw this.refusal(copy, request, placement, skipped, attempts);
        this.invalidate();
        continue;
      }
      if (attempts >= maxAttempts) throw this.refusal(copy, request, placement, skipped, attempts);
      // Contended (other processes take the same hosts, so claims on the copy's word fail): the
      // best candidates as the registry has them now, a few rounds at most, then the claim decides.
      if (!fresh && this.refusedShare > CONTENDED_SHARE && rounds < MAX_READ_ROUNDS) {
        const unread = placement.candidates.map((c) => c.hostId).filter((id) => !read.has(id));
        if (unread.includes(best.hostId)) {
          for (const id of unread) read.add(id);
          await this.readHosts(copy, unread);
          continue;
        }
      }
      attempts++;
      // Held in the copy while the claim runs, so that this process's other placements see it.
      copy.commit(best.hostId, claimed);
      this.hold(best.hostId, claimed, 1);
      try {
        const placeholder = await this.turns.run('claim', () => this.registry.claim({ ...claimBase, groups, hostId: best.hostId, resources: request.resources }));
        this.hold(best.hostId, claimed, -1);
        this.counted(false);
        return { placeholder, placement, attempts, skipped };
      } catch (err) {
        this.hold(best.hostId, claimed, -1);
        const reason = isNoCapacity(err) ? reasonOf(err) : isHostGone(err, best.hostId) ? 'gone' : undefined;
        if (reason === undefined) {
          if (this.working === copy) copy.release(best.hostId, claimed);
          throw err;
        }
        this.counted(true);
        skipped.push({ hostId: best.hostId, reason });
        // The copy was wrong about this host, so likely about the other candidates too (others
        // claimed them meanwhile): read them all before the next try, once per copy.
        const again = [best.hostId, ...placement.candidates.map((c) => c.hostId).filter((id) => id !== best.hostId && !read.has(id))];
        for (const id of again) read.add(id);
        await this.readHosts(copy, again);
      }
    }
  }

  /**
   * Places several requests together (an environment's members) on the working copy and claims
   * them all in one transaction, all or nothing. A refusal reads the refusing host again and
   * places the whole batch again, at most `maxAttempts` times; a batch that does not fit a copy
   * read during the call is refused with the first member that did not fit and why.
   */
  async placeAllAndClaim(
    requests: readonly PlacementRequest[],
    claimBases: ReadonlyArray<Omit<ClaimRequest, 'hostId' | 'resources'>>,
    groupOptions: GroupOptions = {},
  ): Promise<{ readonly placeholders: NodeRecord[]; readonly attempts: number }> {
    const registry = this.registry;
    if (!registry.claimAll) throw new Error('this registry cannot claim several hosts in one transaction');
    const claimAll = registry.claimAll.bind(registry);
    const maxAttempts = Math.max(1, this.options.maxAttempts ?? DEFAULT_MAX_ATTEMPTS);
    const startedAt = this.generation;
    let attempts = 0;
    for (let rounds = 0; ; rounds++) {
      const copy = await this.copy();
      const group = copy.placeGroup(requests.map((r, i) => ({ ...r, groups: claimBases[i]?.groups ?? groupsOf(r) })), groupOptions);
      if (!group.ok) {
        if (this.generation !== startedAt || attempts >= maxAttempts) throw new NoCapacityError(group.request.name, { ...group.placement.rejections }, group.request.hint);
        this.invalidate();
        continue;
      }
      attempts++;
      const placed = group.placements.map((p, i) => ({ hostId: p.host!.id, request: { ...requests[i]!, groups: claimBases[i]?.groups ?? groupsOf(requests[i]!) } }));
      for (const p of placed) this.hold(p.hostId, p.request, 1);
      const undo = () => {
        for (const p of placed) {
          this.hold(p.hostId, p.request, -1);
          if (this.working === copy) copy.release(p.hostId, p.request);
        }
      };
      try {
        const placeholders = await this.turns.run('claim', () =>
          claimAll(placed.map((p, i) => ({ ...claimBases[i]!, groups: p.request.groups, hostId: p.hostId, resources: p.request.resources }))),
        );
        for (const p of placed) this.hold(p.hostId, p.request, -1);
        return { placeholders, attempts };
      } catch (err) {
        undo();
        if (!isNoCapacity(err) || attempts >= maxAttempts) throw err;
        const refusing = err.hostId;
        if (refusing) await this.readHosts(copy, [refusing]);
        else this.invalidate();
      }
    }
  }

  /** Counts a claim into the share of recent claims refused. */
  private counted(refused: boolean): void {
    this.refusedShare += ((refused ? 1 : 0) - this.refusedShare) / REFUSED_WINDOW;
  }

  private hold(hostId: string, request: PlacementRequest, sign: 1 | -1): void {
    const held = this.pending.get(hostId) ?? [];
    if (sign > 0) held.push(request);
    else held.splice(held.indexOf(request), 1);
    if (held.length) this.pending.set(hostId, held);
    else this.pending.delete(hostId);
  }

  /**
   * Reads some hosts again into the copy, with this process's claims in flight on them held again;
   * a host that is gone or changed shape makes the copy be read in full.
   */
  private async readHosts(copy: Allocator, hostIds: readonly string[]): Promise<void> {
    this.hostReads++;
    const hosts = await this.turns.run('read', () => this.registry.hostSnapshot(hostIds));
    if (this.working !== copy) return;
    if (hosts.length !== hostIds.length) return this.invalidate();
    for (const host of hosts) {
      if (!copy.refresh(host)) return this.invalidate();
      for (const held of this.pending.get(host.id) ?? []) copy.commit(host.id, held);
    }
  }

  /** The working copy, read in full when there is none or it is too old; one read at a time. */
  private async copy(): Promise<Allocator> {
    const maxAge = this.options.maxAgeMs ?? DEFAULT_MAX_AGE_MS;
    if (this.working && Date.now() - this.takenAt <= maxAge) return this.working;
    this.refreshing ??= (async () => {
      try {
        const takenAt = Date.now();
        this.reads++;
        const hosts = await this.turns.run('read', () => this.registry.hostSnapshot());
        const { maxAttempts: _a, maxAgeMs: _m, spread: _s, ...allocatorOptions } = this.options;
        const working = new Allocator(hosts, { ...allocatorOptions, seed: this.seed });
        for (const [hostId, held] of this.pending) for (const request of held) working.commit(hostId, request);
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
   * The refusal, counted over the freshest copy so that every host is counted once: hosts that
   * refused a claim in this call move from their rejection (or from the feasible ones) to
   * `<reason> when claimed`; feasible hosts left untried are `not tried after <n> claims`.
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

/**
 * Claims and reads of one Placer take turns: any number of either at once, never both. So a read
 * contains every claim that resolved before it and none still pending (those wait for it to end),
 * and the claims in flight added back to what was read are counted exactly once. Whichever kind
 * waits goes next, so neither starves the other.
 */
export class Turns {
  private active: 'claim' | 'read' | undefined;
  private running = 0;
  private readonly waiting = { claim: [] as Array<() => void>, read: [] as Array<() => void> };

  async run<T>(kind: 'claim' | 'read', work: () => Promise<T>): Promise<T> {
    const other = kind === 'claim' ? 'read' : 'claim';
    if (this.active === undefined || (this.active === kind && !this.waiting[other].length)) {
      this.active = kind;
      this.running++;
    } else {
      // Counted as running by whoever lets it in.
      await new Promise<void>((resolve) => this.waiting[kind].push(resolve));
    }
    try {
      return await work();
    } finally {
      if (--this.running === 0) this.next(other);
    }
  }

  private next(preferred: 'claim' | 'read'): void {
    const kind = this.waiting[preferred].length ? preferred : preferred === 'claim' ? 'read' : 'claim';
    const woken = this.waiting[kind].splice(0);
    this.active = woken.length ? kind : undefined;
    this.running += woken.length;
    for (const wake of woken) wake();
  }
}

/**
 * One of the first `spread` candidates that score as well as the best, drawn by the seed: the
 * first claim of a placement whose seed's generator is `random`.
 */
export function pickAmongEqual(candidates: readonly ScoredCandidate[], spread: number, random: () => number): ScoredCandidate | undefined {
  const first = candidates[0];
  if (!first) return undefined;
  let equal = 1;
  while (equal < Math.min(spread, candidates.length) && candidates[equal]!.score === first.score) equal++;
  return candidates[Math.floor(random() * equal)];
}

/**
 * After a refused claim, the other processes that lost the same race read the same host and would
 * all go for the same next one: a retry takes one of the best `count` at random instead.
 */
function pickAmong(candidates: readonly ScoredCandidate[], count: number, random: () => number): ScoredCandidate | undefined {
  return candidates[Math.floor(random() * Math.min(count, candidates.length))];
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
