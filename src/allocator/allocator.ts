// The stateful allocator for large clusters: a working copy of a snapshot, indexed so that a
// decision costs a few binary searches and one pass over bitsets instead of a scan of every host.
//
// Two indexes, both kept current by commit and release:
// - per resource, every host sorted by free amount, with the bitset of "this position and after"
//   every 64 positions. "Hosts with at least q free" is a binary search and a copy; AND-ing the
//   three with the hosts passing the static filters gives, by popcount, the exact rejection counts
//   of the resource filters, and the bitset of feasible hosts.
// - per shape (up hosts sharing driver, labels and allowance), per resource, the hosts sorted by
//   used amount, descending: within a shape, the order of the share after placement. The bin-pack
//   winner is among the first feasible hosts of these orders (see candidates()).
// Decisions are exactly those of place() over hosts() with the same seed; the property tests hold it.
import type { Resources } from '../domain/types';
import { NotFoundError } from '../domain/errors';
import * as bitset from './bitset';
import { fitsOn, freeOf, isEmpty, RESOURCES } from './capacity';
import { explain } from './explain';
import { firstRejection, prepareChecks, STATIC_FILTERS } from './filters';
import { OrderedHosts } from './ordered-hosts';
import { bestScored, DEFAULT_TOP, placeInOrder, type Scored } from './place';
import { REASON } from './reasons';
import { shuffledOrder } from './shuffle';
import type { AllocatorOptions, GroupOptions, GroupPlacement, HostSnapshot, Placement, PlacementRequest } from './types';
import { prepareScore, weightsOf } from './weighers';
import { groupsOf } from './working-copy';

// Bound once: tsx compiles imported names to getter calls, which the inner loops cannot afford.
const { appendBits, clearBit, hasBit, popcount, setBit, wordsFor } = bitset;

/** Options of one decision; the seed is the allocator's, fixed when it was built. */
export type PlaceOptions = Omit<AllocatorOptions, 'seed'>;

export type IndexedAllocatorOptions = AllocatorOptions & {
  /** With at most this many feasible hosts, score them all instead of walking the orders. Default 64 (or 3 × top). */
  readonly scoreAllBelow?: number;
};

/** Up hosts with the same driver, labels and allowance. */
interface Shape {
  readonly allowance: Resources;
  readonly members: number[];
  /** Per resource: by used amount descending (by nothing when the shape has none of it), then tie. */
  orders: OrderedHosts[];
}

/** One shape's order for one resource, walked from the first host with room. */
interface Walk {
  readonly order: Int32Array;
  p: number;
  found: number;
  /** The request's amount of the resource, the shape's allowance of it, and -used per host. */
  readonly need: number;
  readonly allowance: number;
  readonly negativeUsed: Float64Array;
}

/** One change of a host's group counts. */
interface GroupChange {
  readonly group: string;
  readonly delta: number;
}

/** A log longer than this is folded into its base when the host next changes. */
const GROUP_LOG_LIMIT = 32;

/** The group counts after the first `length` changes of `log` on top of `base`. */
function replayGroups(base: Readonly<Record<string, number>>, log: readonly GroupChange[], length: number): Record<string, number> {
  const groups: Record<string, number> = {};
  for (const g in base) if (base[g]! > 0) groups[g] = base[g]!;
  for (let i = 0; i < length; i++) {
    const { group, delta } = log[i]!;
    const count = (groups[group] ?? 0) + delta;
    if (count > 0) groups[group] = count;
    else delete groups[group];
  }
  return groups;
}

/** What the static filters (state, driver, labels) make of one driver + labels combination. */
interface StaticPass {
  readonly bits: Int32Array;
  readonly count: number;
  readonly rejections: Readonly<Record<string, number>>;
  readonly shapes: readonly Shape[];
}

const SCORE_ALL_BELOW = 64;
const STATIC_CACHE_SIZE = 256;
/** Cache key of the requests that name neither a driver nor labels. */
const ANY_HOST = '';

// Slots of the tally of one pass over the bitsets.
const FULL_ON_MEMORY = 0;
const FULL_ON_CPU = 1;
const FULL_ON_DISK = 2;
const FITS = 3;
const FITS_IN_USE = 4;

/**
 * One pass over the bitsets: `feasible` = static & memory & cpu & disk, and the tally of the hosts
 * each stage drops (mostly empty words, skipped) and of those left. Kept small and apart so that
 * it optimizes well.
 */
function tallyFits(
  statics: Int32Array,
  memory: Int32Array,
  cpu: Int32Array,
  disk: Int32Array,
  inUse: Int32Array,
  feasible: Int32Array,
  tally: Int32Array,
): void {
  let fullOnMemory = 0;
  let fullOnCpu = 0;
  let fullOnDisk = 0;
  let fits = 0;
  let fitsInUse = 0;
  for (let w = 0; w < statics.length; w++) {
    const s = statics[w]!;
    if (s === 0) {
      feasible[w] = 0;
      continue;
    }
    const m = s & memory[w]!;
    const mc = m & cpu[w]!;
    const mcd = mc & disk[w]!;
    feasible[w] = mcd;
    if (s !== m) fullOnMemory += popcount(s ^ m);
    if (m !== mc) fullOnCpu += popcount(m ^ mc);
    if (mc !== mcd) fullOnDisk += popcount(mc ^ mcd);
    if (mcd !== 0) {
      fits += popcount(mcd);
      const u = mcd & inUse[w]!;
      if (u !== 0) fitsInUse += popcount(u);
    }
  }
  tally[FULL_ON_MEMORY] = fullOnMemory;
  tally[FULL_ON_CPU] = fullOnCpu;
  tally[FULL_ON_DISK] = fullOnDisk;
  tally[FITS] = fits;
  tally[FITS_IN_USE] = fitsInUse;
}

/** Inserts a score into the `need` best so far (best first). */
function recordScore(best: number[], score: number, need: number): void {
  let i = best.length;
  while (i > 0 && best[i - 1]! < score) i--;
  if (i < need) {
    best.splice(i, 0, score);
    if (best.length > need) best.pop();
  }
}

export class Allocator {
  private readonly n: number;
  private readonly words: number;
  /** The snapshot the allocator was built from (a host replaced by refresh); its state, driver, labels and allowance never change. */
  private readonly base: HostSnapshot[];
  /** Group counts per host, changed in place by commit and release. */
  private readonly groupCounts: Array<Map<string, number>>;
  /**
   * What a view's groups are built from, only when read: a base record and the changes since,
   * in an append-only log. A view remembers the log's length when made, so later changes do not
   * reach it, and committing never copies a host's groups.
   */
  private readonly groupBase: Array<Readonly<Record<string, number>>>;
  private readonly groupLog: GroupChange[][];
  /** Each host as a snapshot, built again (lazily) after it changes. */
  private readonly views: Array<HostSnapshot | undefined>;
  /** Host index at each position of the seeded shuffle, and the position of each host. */
  private readonly byPosition: Int32Array;
  private readonly position: Int32Array;
  /** Tie-break within a shape order: used hosts first (their position), then empty ones (n + position). */
  private readonly tie: Int32Array;
  private readonly free: Float64Array[];
  private readonly negativeUsed: Float64Array[];
  private readonly zeros: Float64Array;
  private readonly byFree: OrderedHosts[];
  /** Shape of each host; -1 for hosts that are not up and so never candidates. */
  private readonly shapeOf: Int32Array;
  private readonly shapes: Shape[] = [];
  private readonly ids = new Map<string, number>();
  private readonly names = new Map<string, number[]>();
  /** Hosts holding at least one container or claim of each group. */
  private readonly holders = new Map<string, Set<number>>();
  private readonly statics = new Map<string, StaticPass>();
  /** Hosts something is placed on. */
  private readonly inUse: Int32Array;
  // Scratch space of one decision.
  private readonly fits: Int32Array[];
  private readonly feasible: Int32Array;
  private readonly tally = new Int32Array(5);
  private readonly seen: Int32Array;
  private visit = 0;
  private groupSerial = 0;

  constructor(hosts: readonly HostSnapshot[], private readonly options: IndexedAllocatorOptions = {}) {
    const n = hosts.length;
    this.n = n;
    this.words = wordsFor(n);
    this.base = hosts.slice();
    this.views = hosts.slice();
    this.groupCounts = hosts.map((h) => new Map(Object.entries(h.groups).filter(([, c]) => c > 0)));
    this.groupBase = hosts.map((h) => h.groups);
    this.groupLog = hosts.map(() => []);
    this.byPosition = shuffledOrder(n, options.seed ?? 0);
    this.position = new Int32Array(n);
    for (let p = 0; p < n; p++) this.position[this.byPosition[p]!] = p;
    this.tie = new Int32Array(n);
    this.free = RESOURCES.map(() => new Float64Array(n));
    this.negativeUsed = RESOURCES.map(() => new Float64Array(n));
    this.zeros = new Float64Array(n);
    this.shapeOf = new Int32Array(n).fill(-1);
    this.inUse = new Int32Array(this.words);
    const identity = new Int32Array(n);
    const shapeIndex = new Map<string, number>();
    for (let h = 0; h < n; h++) {
      const host = hosts[h]!;
      identity[h] = h;
      const empty = isEmpty(host);
      this.tie[h] = empty ? n + this.position[h]! : this.position[h]!;
      if (!empty) setBit(this.inUse, h);
      RESOURCES.forEach((r, k) => {
        this.free[k]![h] = freeOf(host, r);
        this.negativeUsed[k]![h] = -host.used[r];
      });
      this.ids.set(host.id, h);
      const named = this.names.get(host.name);
      if (named) named.push(h);
      else this.names.set(host.name, [h]);
      for (const g of this.groupCounts[h]!.keys()) this.holdersOf(g).add(h);
      if (host.state === 'up') {
        const a = host.allowance;
        const key = JSON.stringify([host.driver, Object.entries(host.labels).sort(), a.memoryMiB, a.cpus, a.diskGiB]);
        let s = shapeIndex.get(key);
        if (s === undefined) {
          s = this.shapes.length;
          shapeIndex.set(key, s);
          this.shapes.push({ allowance: a, members: [], orders: [] });
        }
        this.shapes[s]!.members.push(h);
        this.shapeOf[h] = s;
      }
    }
    for (const shape of this.shapes) {
      shape.orders = RESOURCES.map(
        (r, k) => new OrderedHosts(shape.members, shape.allowance[r] > 0 ? this.negativeUsed[k]! : this.zeros, this.tie),
      );
    }
    this.byFree = RESOURCES.map((_, k) => new OrderedHosts(identity, this.free[k]!, identity, this.words));
    this.fits = RESOURCES.map(() => new Int32Array(this.words));
    this.feasible = new Int32Array(this.words);
    this.seen = new Int32Array(n);
  }

  /** The working copy: the snapshot with every commit and release applied. */
  hosts(): HostSnapshot[] {
    return this.base.map((_, h) => this.view(h));
  }

  /** The best host for a request in the working copy; commits nothing. */
  place(request: PlacementRequest, overrides?: PlaceOptions): Placement {
    const options: AllocatorOptions = overrides ? { ...this.options, ...overrides, seed: this.options.seed } : this.options;
    if (request.hint !== undefined) return this.placeHinted(request, options);
    const pass = this.staticPass(request);
    const need = request.resources;
    for (let k = 0; k < RESOURCES.length; k++) {
      const index = this.byFree[k]!;
      index.hostsFrom(index.firstAtLeast(this.free[k]!, need[RESOURCES[k]!]), this.fits[k]!);
    }
    const feasible = this.feasible;
    const inUse = this.inUse;
    const tally = this.tally;
    tallyFits(pass.bits, this.fits[0]!, this.fits[1]!, this.fits[2]!, inUse, feasible, tally);
    // A host counts under the first filter it fails: static, excluded, memory, cpu, disk, anti-affinity.
    let fullOnMemory = tally[FULL_ON_MEMORY]!;
    let fullOnCpu = tally[FULL_ON_CPU]!;
    let fullOnDisk = tally[FULL_ON_DISK]!;
    let fit = tally[FITS]!;
    let fitInUse = tally[FITS_IN_USE]!;
    let excluded = 0;
    if (request.exclude?.length) {
      for (const id of new Set(request.exclude)) {
        const h = this.ids.get(id);
        if (h === undefined || !hasBit(pass.bits, h)) continue;
        excluded++;
        const host = this.view(h);
        if (!fitsOn(host, need, 'memoryMiB')) fullOnMemory--;
        else if (!fitsOn(host, need, 'cpus')) fullOnCpu--;
        else if (!fitsOn(host, need, 'diskGiB')) fullOnDisk--;
        else {
          fit--;
          if (hasBit(inUse, h)) fitInUse--;
          clearBit(feasible, h);
        }
      }
    }
    let apart = 0;
    for (const g of request.antiAffinity ?? []) {
      const holders = this.holders.get(g);
      if (!holders) continue;
      for (const h of holders) {
        if (hasBit(feasible, h)) {
          clearBit(feasible, h);
          fit--;
          if (hasBit(inUse, h)) fitInUse--;
          apart++;
        }
      }
    }
    const rejections: Record<string, number> = { ...pass.rejections };
    if (excluded > 0) rejections[REASON.excluded] = excluded;
    if (fullOnMemory > 0) rejections[REASON.fullOnMemory] = fullOnMemory;
    if (fullOnCpu > 0) rejections[REASON.fullOnCpu] = fullOnCpu;
    if (fullOnDisk > 0) rejections[REASON.fullOnDisk] = fullOnDisk;
    if (apart > 0) rejections[REASON.antiAffinity] = apart;
    if (fit === 0) return { rejections, candidates: [] };
    const top = options.top ?? DEFAULT_TOP;
    const scored = this.candidates(request, pass, fit, fitInUse, options, Math.max(1, top));
    return this.bestOf(scored, rejections, top);
  }

  /** Adds the request's resources and groups to a host of the working copy. */
  commit(hostId: string, request: PlacementRequest): void {
    this.change(this.indexOf(hostId), request, 1);
  }

  /** Takes a committed request off its host again (a claim released, a container gone). */
  release(hostId: string, request: PlacementRequest): void {
    this.change(this.indexOf(hostId), request, -1);
  }

  /**
   * Replaces a host of the working copy by a fresh read of it: its usage, groups and load. False
   * (and nothing changed) when the host is unknown or its state, driver, labels or allowance
   * changed, which the indexes are built on: then only a new Allocator over a new snapshot will do.
   */
  refresh(host: HostSnapshot): boolean {
    const h = this.ids.get(host.id);
    if (h === undefined) return false;
    const known = this.base[h]!;
    if (!sameStatics(known, host)) return false;
    this.change(h, NOTHING, 1, [host.used.memoryMiB, host.used.cpus, host.used.diskGiB]);
    const counts = this.groupCounts[h]!;
    const deltas = new Map<string, number>();
    for (const [g, c] of counts) deltas.set(g, -c);
    for (const g in host.groups) deltas.set(g, (deltas.get(g) ?? 0) + (host.groups[g]! > 0 ? host.groups[g]! : 0));
    for (const [g, d] of deltas) if (d !== 0) this.countGroup(h, g, d);
    this.base[h] = { ...known, load: host.load };
    this.groupBase[h] = host.groups;
    this.groupLog[h] = [];
    this.views[h] = undefined;
    return true;
  }

  /**
   * Places a whole environment: each request in turn, committed before the next. If one does not
   * fit, every commit of the batch is undone and the answer says which request failed and why.
   */
  placeGroup(requests: readonly PlacementRequest[], options: GroupOptions & PlaceOptions = {}): GroupPlacement {
    const { antiAffinity, ...overrides } = options;
    const group =
      antiAffinity === true ? `placement-group:${++this.groupSerial}` : antiAffinity ? antiAffinity : undefined;
    const undo: Array<{ h: number; request: PlacementRequest; used: number[] }> = [];
    const placements: Placement[] = [];
    for (let i = 0; i < requests.length; i++) {
      const request = group ? keptApart(requests[i]!, group) : requests[i]!;
      const placement = this.place(request, overrides);
      if (!placement.host) {
        for (let u = undo.length - 1; u >= 0; u--) this.change(undo[u]!.h, undo[u]!.request, -1, undo[u]!.used);
        return { ok: false, index: i, request: requests[i]!, placement, explanation: explain(placement) };
      }
      const h = this.indexOf(placement.host.id);
      undo.push({ h, request, used: this.negativeUsed.map((u) => -u[h]!) });
      this.change(h, request, 1);
      placements.push(placement);
    }
    return group ? { ok: true, placements, group } : { ok: true, placements };
  }

  /**
   * Scores the feasible hosts that can be among the best `need`: all of them, unless the weights
   * are the bin-pack kind (bin-pack, plus affinity).
   *
   * With bin-pack weights, within a shape a host's score is set by its dominant resource r: its
   * share of r after placement, a used host above an empty one, then shuffled position: the very
   * order of that shape's r-order. So a host in the top `need` is among the first `need` feasible
   * hosts of the r-order of its shape and dominant resource, or holds an affinity group (scored
   * apart). A walk also stops once the best score any further host could reach on its resource is
   * below the `need`-th best found; the walks go round-robin so that this bar rises early. When
   * few used hosts fit, those are all scored, with the first empty hosts of each shape.
   */
  private candidates(
    request: PlacementRequest,
    pass: StaticPass,
    fit: number,
    fitInUse: number,
    options: AllocatorOptions,
    need: number,
  ): Scored[] {
    const feasible = this.feasible;
    const weights = weightsOf(options);
    const score = prepareScore(request, weights);
    const hosts: number[] = [];
    if (options.maxCandidates !== undefined) {
      // As place(): the first feasible hosts in shuffled order.
      const cap = Math.max(1, options.maxCandidates);
      for (let p = 0; p < this.n && hosts.length < cap; p++) {
        const h = this.byPosition[p]!;
        if (hasBit(feasible, h)) hosts.push(h);
      }
      return this.scoreAll(hosts, score);
    }
    const binpack = weights.binpack ?? 0;
    const affinity = weights.affinity ?? 0;
    const binpackLed = Number.isFinite(binpack) && binpack > 0 && affinity >= 0 && !weights.spread && !weights.leastLoaded;
    const scoreAllBelow = this.options.scoreAllBelow ?? Math.max(SCORE_ALL_BELOW, 3 * need);
    if (!binpackLed || fit <= scoreAllBelow) {
      appendBits(feasible, hosts);
      return this.scoreAll(hosts, score);
    }
    const visit = ++this.visit;
    const seen = this.seen;
    if (affinity > 0) {
      for (const g of request.affinity ?? []) {
        for (const h of this.holders.get(g) ?? []) {
          if (hasBit(feasible, h) && seen[h] !== visit) {
            seen[h] = visit;
            hosts.push(h);
          }
        }
      }
    }
    if (fitInUse <= scoreAllBelow) {
      // Every used host that fits, and the first empty hosts of each shape (equal scores there).
      const inUse = this.inUse;
      for (let w = 0; w < this.words; w++) {
        let word = feasible[w]! & inUse[w]!;
        while (word !== 0) {
          const low = word & -word;
          const h = (w << 5) + 31 - Math.clz32(low);
          word ^= low;
          if (seen[h] !== visit) {
            seen[h] = visit;
            hosts.push(h);
          }
        }
      }
      for (const shape of pass.shapes) {
        const order = shape.orders[0]!.order;
        const firstEmpty = this.firstEmpty(shape);
        for (let p = firstEmpty, found = 0; p < order.length && found < need; p++) {
          const h = order[p]!;
          if (hasBit(feasible, h) && !hasBit(inUse, h)) {
            found++;
            if (seen[h] !== visit) {
              seen[h] = visit;
              hosts.push(h);
            }
          }
        }
      }
      return this.scoreAll(hosts, score);
    }
    const scored = this.scoreAll(hosts, score);
    const best: number[] = [];
    for (const s of scored) recordScore(best, s.score, need);
    const walks: Walk[] = [];
    for (const shape of pass.shapes) {
      for (let k = 0; k < RESOURCES.length; k++) {
        const r = RESOURCES[k]!;
        const allowance = shape.allowance[r];
        const index = shape.orders[k]!;
        // Hosts before the first with room for the request are full on r: skip them.
        const p = allowance > 0 ? index.firstAtLeast(this.free[k]!, request.resources[r]) : 0;
        walks.push({ order: index.order, p, found: 0, need: request.resources[r], allowance, negativeUsed: this.negativeUsed[k]! });
      }
    }
    for (let active = walks.length; active > 0; ) {
      active = 0;
      for (const walk of walks) {
        const order = walk.order;
        while (walk.p < order.length && walk.found < need) {
          const h = order[walk.p++]!;
          if (best.length >= need) {
            // The most a host from here on scores with this as its dominant resource (used, this share).
            const share = walk.allowance > 0 ? (walk.need - walk.negativeUsed[h]!) / walk.allowance : 0;
            if (binpack * (0.5 + Math.min(1, share) / 2) < best[need - 1]!) {
              walk.p = order.length;
              break;
            }
          }
          if (hasBit(feasible, h)) {
            walk.found++;
            if (seen[h] !== visit) {
              seen[h] = visit;
              const s = score(this.view(h));
              scored.push({ index: h, position: this.position[h]!, score: s });
              recordScore(best, s, need);
            }
            break;
          }
        }
        if (walk.p < order.length && walk.found < need) active++;
      }
    }
    return scored;
  }

  private scoreAll(hosts: readonly number[], score: (host: HostSnapshot) => number): Scored[] {
    return hosts.map((h) => ({ index: h, position: this.position[h]!, score: score(this.view(h)) }));
  }

  /** Position of the first empty host in a shape's first order (they all come last, by position). */
  private firstEmpty(shape: Shape): number {
    const index = shape.orders[0]!;
    const key = shape.allowance[RESOURCES[0]] > 0 ? this.negativeUsed[0]! : this.zeros;
    const tie = this.tie;
    const n = this.n;
    return index.firstWhere((h) => key[h]! > 0 || (key[h] === 0 && tie[h]! >= n));
  }

  /** A hint names one host: the pipeline runs on it alone and every other host is "not the hinted host". */
  private placeHinted(request: PlacementRequest, options: AllocatorOptions): Placement {
    const hint = request.hint!;
    const hinted = new Set<number>(this.names.get(hint) ?? []);
    const byId = this.ids.get(hint);
    if (byId !== undefined) hinted.add(byId);
    // The hinted hosts in shuffled order, so that ties break as in place().
    const views = [...hinted].sort((a, b) => this.position[a]! - this.position[b]!).map((h) => this.view(h));
    const rejections: Record<string, number> = {};
    if (this.n > views.length) rejections[REASON.notHinted] = this.n - views.length;
    return placeInOrder(views, views.map((_, i) => i), request, options, rejections);
  }

  /** The static filters for this driver and these labels, computed once per combination. */
  private staticPass(request: PlacementRequest): StaticPass {
    const key =
      request.driver === undefined && (request.requires === undefined || Object.keys(request.requires).length === 0)
        ? ANY_HOST
        : JSON.stringify([request.driver ?? null, Object.entries(request.requires ?? {})]);
    const cached = this.statics.get(key);
    if (cached) return cached;
    const checks = prepareChecks(request, STATIC_FILTERS);
    const bits = new Int32Array(this.words);
    const rejections: Record<string, number> = {};
    const shapes = new Set<Shape>();
    let count = 0;
    for (let h = 0; h < this.n; h++) {
      const reason = firstRejection(checks, this.base[h]!);
      if (reason !== undefined) {
        rejections[reason] = (rejections[reason] ?? 0) + 1;
      } else {
        setBit(bits, h);
        count++;
        shapes.add(this.shapes[this.shapeOf[h]!]!);
      }
    }
    if (this.statics.size >= STATIC_CACHE_SIZE) this.statics.clear();
    const pass: StaticPass = { bits, count, rejections, shapes: [...shapes] };
    this.statics.set(key, pass);
    return pass;
  }

  /**
   * Adds (sign 1) or takes off (sign -1) a request's resources and groups on host h and moves it
   * in every index; `restore` puts back exact used amounts (undoing a batch) instead of subtracting.
   */
  private change(h: number, request: PlacementRequest, sign: 1 | -1, restore?: readonly number[]): void {
    const host = this.base[h]!;
    const need = request.resources;
    const oldTie = this.tie[h]!;
    const u = this.negativeUsed;
    // The same arithmetic as withClaim (and its inverse), so that the views equal place()'s copies.
    const memory = restore ? restore[0]! : sign > 0 ? -u[0]![h]! + need.memoryMiB : -u[0]![h]! - need.memoryMiB;
    const cpus = restore ? restore[1]! : sign > 0 ? -u[1]![h]! + need.cpus : -u[1]![h]! - need.cpus;
    const disk = restore ? restore[2]! : sign > 0 ? -u[2]![h]! + need.diskGiB : -u[2]![h]! - need.diskGiB;
    const empty = memory === 0 && cpus === 0 && disk === 0;
    this.tie[h] = empty ? this.n + this.position[h]! : this.position[h]!;
    if (empty) clearBit(this.inUse, h);
    else setBit(this.inUse, h);
    const shape = this.shapeOf[h]! >= 0 ? this.shapes[this.shapeOf[h]!] : undefined;
    for (let k = 0; k < RESOURCES.length; k++) {
      const r = RESOURCES[k]!;
      const used = k === 0 ? memory : k === 1 ? cpus : disk;
      const oldFree = this.free[k]![h]!;
      const oldNegativeUsed = u[k]![h]!;
      this.free[k]![h] = host.allowance[r] - used;
      u[k]![h] = -used;
      this.byFree[k]!.update(h, oldFree, h);
      if (shape) shape.orders[k]!.update(h, shape.allowance[r] > 0 ? oldNegativeUsed : 0, oldTie);
    }
    let log = this.groupLog[h]!;
    if (log.length >= GROUP_LOG_LIMIT) {
      this.groupBase[h] = replayGroups(this.groupBase[h]!, log, log.length);
      this.groupLog[h] = log = [];
    }
    for (const group of groupsOf(request)) {
      log.push({ group, delta: sign });
      this.countGroup(h, group, sign);
    }
    this.views[h] = undefined;
  }

  private countGroup(h: number, group: string, delta: number): void {
    const counts = this.groupCounts[h]!;
    const count = (counts.get(group) ?? 0) + delta;
    if (count > 0) {
      counts.set(group, count);
      this.holdersOf(group).add(h);
    } else {
      counts.delete(group);
      const holders = this.holders.get(group);
      holders?.delete(h);
      if (holders?.size === 0) this.holders.delete(group);
    }
  }

  /** Host h as it is now in the working copy. */
  private view(h: number): HostSnapshot {
    let view = this.views[h];
    if (!view) {
      const base = this.groupBase[h]!;
      const log = this.groupLog[h]!;
      const length = log.length;
      let groups: Record<string, number> | undefined;
      const u = this.negativeUsed;
      view = {
        ...this.base[h]!,
        used: { cpus: -u[1]![h]!, memoryMiB: -u[0]![h]!, diskGiB: -u[2]![h]! },
        // An own enumerable getter: spread, JSON and deep equality see a plain record.
        get groups(): Record<string, number> {
          return (groups ??= replayGroups(base, log, length));
        },
      };
      this.views[h] = view;
    }
    return view;
  }

  private bestOf(all: readonly Scored[], rejections: Record<string, number>, top: number): Placement {
    const scored = bestScored(all, top);
    const candidates = scored.slice(0, Math.max(0, top)).map((s) => {
      const h = this.base[s.index]!;
      return { hostId: h.id, hostName: h.name, score: s.score };
    });
    const best = scored[0];
    return best ? { host: this.view(best.index), rejections, candidates } : { rejections, candidates };
  }

  private holdersOf(group: string): Set<number> {
    let holders = this.holders.get(group);
    if (!holders) this.holders.set(group, (holders = new Set()));
    return holders;
  }

  private indexOf(hostId: string): number {
    const h = this.ids.get(hostId);
    if (h === undefined) throw new NotFoundError('host', hostId);
    return h;
  }
}

/** A request of nothing: refresh moves a host in the indexes without adding to it. */
const NOTHING: PlacementRequest = { name: '', resources: { cpus: 0, memoryMiB: 0, diskGiB: 0 }, groups: [] };

/** Whether two reads of a host agree on what the indexes are built on. */
function sameStatics(a: HostSnapshot, b: HostSnapshot): boolean {
  if (a.state !== b.state || a.driver !== b.driver || a.name !== b.name) return false;
  for (const r of RESOURCES) if (a.allowance[r] !== b.allowance[r]) return false;
  const la = Object.keys(a.labels);
  if (la.length !== Object.keys(b.labels).length) return false;
  return la.every((k) => a.labels[k] === b.labels[k]);
}

/** The request, made to join and avoid one more group. */
function keptApart(request: PlacementRequest, group: string): PlacementRequest {
  return { ...request, antiAffinity: [...(request.antiAffinity ?? []), group], groups: [...groupsOf(request), group] };
}
