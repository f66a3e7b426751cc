// The stateful allocator for large clusters: a working copy of a snapshot, indexed so that a
// decision costs a few binary searches and a pass over bitsets instead of a scan of every host.
//
// Two indexes, both kept current by commit and release:
// - per resource, every host sorted by free amount, with a bitset of "this position and after"
//   every 64 positions. "Hosts with at least q free" is a binary search and a copy; AND-ing the
//   three with the hosts passing the static filters gives, by popcount, the exact rejection counts
//   of the resource filters, and the bitset of feasible hosts.
// - per shape (hosts sharing driver, labels and allowance), per resource, the up hosts sorted by
//   used amount, descending. Within a shape that is the order of the share after placement, so the
//   bin-pack winner is among the first feasible hosts of one of the three orders (see candidates()).
// Decisions are exactly those of place() over hosts() with the same seed; the property tests hold it.
import type { Resources } from '../domain/types';
import { NotFoundError } from '../domain/errors';
import * as bitset from './bitset';
import { fitsOn, freeOf, isEmpty, RESOURCES } from './capacity';
import { explain } from './explain';
import { firstRejection, prepareChecks, STATIC_FILTERS } from './filters';
import { OrderedHosts } from './ordered-hosts';
import { byScore, DEFAULT_TOP, placeInOrder, type Scored } from './place';
import { REASON } from './reasons';
import { shuffledOrder } from './shuffle';
import type {
  AllocatorOptions,
  GroupOptions,
  GroupPlacement,
  HostSnapshot,
  Placement,
  PlacementRequest,
} from './types';
import { prepareScore, weightsOf } from './weighers';
import { groupsOf } from './working-copy';

// Bound once: tsx compiles imported names to getter calls, which the inner loops cannot afford.
const { clearBit, forEachBit, hasBit, popcount, setBit, wordsFor } = bitset;

/** Options of one decision; the seed is the allocator's, fixed when it was built. */
export type PlaceOptions = Omit<AllocatorOptions, 'seed'>;

export type IndexedAllocatorOptions = AllocatorOptions & {
  /** With at most this many feasible hosts, score them all instead of walking the orders. Default 64. */
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

/** What the static filters (state, driver, labels) make of one driver + labels combination. */
interface StaticPass {
  readonly bits: Uint32Array;
  readonly count: number;
  readonly rejections: Readonly<Record<string, number>>;
  readonly shapes: readonly Shape[];
}

/** With this few feasible hosts, scoring them all is cheaper than walking the orders. */
const SCORE_ALL_BELOW = 64;
const STATIC_CACHE_SIZE = 256;

export class Allocator {
  private readonly n: number;
  private readonly words: number;
  /** The snapshot the allocator was built from; what never changes is read from it. */
  private readonly base: readonly HostSnapshot[];
  /** Group counts per host, changed in place by commit and release. */
  private readonly groupCounts: Array<Map<string, number>>;
  /** Each host as a snapshot, built again (lazily) after it changes. */
  private readonly views: Array<HostSnapshot | undefined>;
  /** Host index at each position of the seeded shuffle, and the position of each host. */
  private readonly byPosition: Int32Array;
  private readonly position: Int32Array;
  /** Tie-break within a shape order: used hosts first, then shuffled position. */
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
  private readonly fits: Uint32Array[];
  private readonly feasible: Uint32Array;
  /** Hosts something is placed on. */
  private readonly inUse: Uint32Array;
  private readonly seen: Int32Array;
  private visit = 0;
  private groupSerial = 0;

  constructor(hosts: readonly HostSnapshot[], private readonly options: IndexedAllocatorOptions = {}) {
    const n = hosts.length;
    this.n = n;
    this.words = wordsFor(n);
    this.base = hosts.slice();
    this.views = hosts.slice();
    this.groupCounts = hosts.map((h) => new Map(Object.entries(h.groups).filter(([, c]) => c !== 0)));
    this.byPosition = shuffledOrder(n, options.seed ?? 0);
    this.position = new Int32Array(n);
    for (let p = 0; p < n; p++) this.position[this.byPosition[p]!] = p;
    this.tie = new Int32Array(n);
    this.free = RESOURCES.map(() => new Float64Array(n));
    this.negativeUsed = RESOURCES.map(() => new Float64Array(n));
    this.zeros = new Float64Array(n);
    this.shapeOf = new Int32Array(n).fill(-1);
    const identity = new Int32Array(n);
    const shapeIndex = new Map<string, number>();
    for (let h = 0; h < n; h++) {
      const host = hosts[h]!;
      identity[h] = h;
      this.tie[h] = this.tieOf(h, host);
      RESOURCES.forEach((r, k) => {
        this.free[k]![h] = freeOf(host, r);
        this.negativeUsed[k]![h] = -host.used[r];
      });
      this.ids.set(host.id, h);
      const named = this.names.get(host.name);
      if (named) named.push(h);
      else this.names.set(host.name, [h]);
      for (const g in host.groups) if (host.groups[g]! > 0) this.holdersOf(g).add(h);
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
    this.fits = RESOURCES.map(() => new Uint32Array(this.words));
    this.feasible = new Uint32Array(this.words);
    this.inUse = new Uint32Array(this.words);
    for (let h = 0; h < n; h++) if (!isEmpty(hosts[h]!)) setBit(this.inUse, h);
    this.seen = new Int32Array(n);
  }

  /** The working copy: the snapshot with every commit and release applied. */
  hosts(): HostSnapshot[] {
    return this.base.map((_, h) => this.view(h));
  }

  /** The best host for a request in the working copy; commits nothing. */
  place(request: PlacementRequest, overrides: PlaceOptions = {}): Placement {
    const options: AllocatorOptions = { ...this.options, ...overrides, seed: this.options.seed };
    if (request.hint !== undefined) return this.placeHinted(request, options);
    const pass = this.staticPass(request);
    const need = request.resources;
    for (let k = 0; k < RESOURCES.length; k++) {
      const q = need[RESOURCES[k]!];
      const free = this.free[k]!;
      const index = this.byFree[k]!;
      index.hostsFrom(
        index.firstWhere((h) => q <= free[h]!),
        this.fits[k]!,
      );
    }
    // Counts by first failing filter: static, then memory, cpu, disk; `feasible` gets what passes.
    const [memory, cpu, disk] = this.fits as [Uint32Array, Uint32Array, Uint32Array];
    const feasible = this.feasible;
    const statics = pass.bits;
    const inUse = this.inUse;
    let memoryFits = 0;
    let cpuFits = 0;
    let fit = 0;
    let fitInUse = 0;
    for (let w = 0; w < this.words; w++) {
      const s = statics[w]!;
      if (s === 0) {
        feasible[w] = 0;
        continue;
      }
      const m = s & memory[w]!;
      const mc = m & cpu[w]!;
      const mcd = mc & disk[w]!;
      feasible[w] = mcd;
      if (m !== 0) {
        memoryFits += popcount(m);
        if (mc !== 0) {
          cpuFits += popcount(mc);
          if (mcd !== 0) {
            fit += popcount(mcd);
            fitInUse += popcount(mcd & inUse[w]!);
          }
        }
      }
    }
    let fullOnMemory = pass.count - memoryFits;
    let fullOnCpu = memoryFits - cpuFits;
    let fullOnDisk = cpuFits - fit;
    // The exclude filter runs before the resource filters: move excluded hosts to their own reason.
    let excluded = 0;
    for (const id of new Set(request.exclude ?? [])) {
      const h = this.ids.get(id);
      if (h === undefined || !hasBit(statics, h)) continue;
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
    let apart = 0;
    for (const g of request.antiAffinity ?? []) {
      for (const h of this.holders.get(g) ?? []) {
        if (hasBit(feasible, h)) {
          clearBit(feasible, h);
          fit--;
          if (hasBit(inUse, h)) fitInUse--;
          apart++;
        }
      }
    }
    const rejections: Record<string, number> = { ...pass.rejections };
    const count = (reason: string, n: number) => {
      if (n > 0) rejections[reason] = n;
    };
    count(REASON.excluded, excluded);
    count(REASON.fullOnMemory, fullOnMemory);
    count(REASON.fullOnCpu, fullOnCpu);
    count(REASON.fullOnDisk, fullOnDisk);
    count(REASON.antiAffinity, apart);
    if (fit === 0) return { rejections, candidates: [] };

    const top = options.top ?? DEFAULT_TOP;
    const scored = this.candidates(request, pass, { all: fit, inUse: fitInUse }, options, Math.max(1, top));
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
      const request = group ? apart(requests[i]!, group) : requests[i]!;
      const placement = this.place(request, overrides);
      if (!placement.host) {
        for (let u = undo.length - 1; u >= 0; u--) {
          const { h, request: placed, used } = undo[u]!;
          this.change(h, placed, -1, used);
        }
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
   * Scores the feasible hosts that can be among the best `need` (all of them, unless the weights
   * are the bin-pack kind: bin-pack, plus affinity).
   *
   * With bin-pack weights, within a shape a host's score is set by its dominant resource r: its
   * share of r after placement, a used host above an empty one, then shuffled position — the very
   * order of that shape's r-order. So a host in the top `need` is among the first `need` feasible
   * hosts of the r-order of its shape and dominant resource, or holds an affinity group (scored
   * apart). Each walk also stops once the best score any further host could reach on that
   * resource is below the `need`-th best found: the walks go round-robin so that bar rises early.
   * When few used hosts fit, they are all scored, with the first empty ones of each shape.
   */
  private candidates(
    request: PlacementRequest,
    pass: StaticPass,
    fit: { readonly all: number; readonly inUse: number },
    options: AllocatorOptions,
    need: number,
  ): Scored[] {
    const feasible = this.feasible;
    const weights = weightsOf(options);
    const score = prepareScore(request, weights);
    const scored: Scored[] = [];
    const visit = ++this.visit;
    const take = (h: number): number => {
      if (this.seen[h] === visit) return -Infinity;
      this.seen[h] = visit;
      const s = score(this.view(h));
      scored.push({ index: h, position: this.position[h]!, score: s });
      return s;
    };
    if (options.maxCandidates !== undefined) {
      // As place(): the first feasible hosts in shuffled order.
      const cap = Math.max(1, options.maxCandidates);
      for (let p = 0; p < this.n && scored.length < cap; p++) {
        const h = this.byPosition[p]!;
        if (hasBit(feasible, h)) take(h);
      }
      return scored;
    }
    const binpack = weights.binpack ?? 0;
    const affinity = weights.affinity ?? 0;
    const binpackLed = Number.isFinite(binpack) && binpack > 0 && affinity >= 0 && !weights.spread && !weights.leastLoaded;
    const scoreAll = Math.max(this.options.scoreAllBelow ?? SCORE_ALL_BELOW, 3 * need);
    if (!binpackLed || fit.all <= scoreAll) {
      forEachBit(feasible, take);
      return scored;
    }
    if (affinity > 0) {
      for (const g of request.affinity ?? []) {
        for (const h of this.holders.get(g) ?? []) if (hasBit(feasible, h)) take(h);
      }
    }
    if (fit.inUse <= scoreAll) {
      // Every used host that fits, and the first empty hosts of each shape (equal scores there).
      const inUse = this.inUse;
      for (let w = 0; w < this.words; w++) {
        let word = feasible[w]! & inUse[w]!;
        while (word !== 0) {
          const low = word & -word;
          take((w << 5) + 31 - Math.clz32(low));
          word ^= low;
        }
      }
      const n = this.n;
      for (const shape of pass.shapes) {
        const index = shape.orders[0]!;
        const key = shape.allowance[RESOURCES[0]] > 0 ? this.negativeUsed[0]! : this.zeros;
        const tie = this.tie;
        const order = index.order;
        let p = index.firstWhere((h) => key[h]! > 0 || (key[h] === 0 && tie[h]! >= n));
        for (let found = 0; p < order.length && found < need; p++) {
          const h = order[p]!;
          if (hasBit(feasible, h) && !hasBit(inUse, h)) {
            take(h);
            found++;
          }
        }
      }
      return scored;
    }
    // The `need` best scores so far, best first: the bar a walk must still be able to reach.
    const best: number[] = [];
    const record = (s: number) => {
      if (s === -Infinity) return;
      let i = best.length;
      while (i > 0 && best[i - 1]! < s) i--;
      if (i < need) {
        best.splice(i, 0, s);
        if (best.length > need) best.pop();
      }
    };
    for (const s of scored) record(s.score);
    const walks: Walk[] = [];
    for (const shape of pass.shapes) {
      for (let k = 0; k < RESOURCES.length; k++) {
        const r = RESOURCES[k]!;
        const q = request.resources[r];
        const allowance = shape.allowance[r];
        const free = this.free[k]!;
        const index = shape.orders[k]!;
        // Hosts before the first that has room for q are full on r: skip them.
        const p = allowance > 0 ? index.firstWhere((h) => q <= free[h]!) : 0;
        walks.push({ order: index.order, p, found: 0, need: q, allowance, negativeUsed: this.negativeUsed[k]! });
      }
    }
    let active = walks.length;
    while (active > 0) {
      active = 0;
      for (const walk of walks) {
        const order = walk.order;
        while (walk.p < order.length && walk.found < need) {
          const h = order[walk.p++]!;
          if (best.length >= need) {
            // The best a host from here on can score on this resource: used, with this share.
            const share = walk.allowance > 0 ? (-walk.negativeUsed[h]! + walk.need) / walk.allowance : 0;
            if (binpack * (0.5 + Math.min(1, share) / 2) < best[need - 1]!) {
              walk.p = order.length;
              break;
            }
          }
          if (hasBit(feasible, h)) {
            walk.found++;
            record(take(h));
            break;
          }
        }
        if (walk.p < order.length && walk.found < need) active++;
      }
    }
    return scored;
  }

  /** A hint names one host: the pipeline runs on it alone and every other host is "not the hinted host". */
  private placeHinted(request: PlacementRequest, options: AllocatorOptions): Placement {
    const hint = request.hint!;
    const hinted = new Set<number>(this.names.get(hint) ?? []);
    const byId = this.ids.get(hint);
    if (byId !== undefined) hinted.add(byId);
    const order = [...hinted].sort((a, b) => this.position[a]! - this.position[b]!);
    const rejections: Record<string, number> = {};
    if (this.n > order.length) rejections[REASON.notHinted] = this.n - order.length;
    return placeInOrder(this.hosts(), order, request, options, rejections);
  }

  /** The static filters for this driver and these labels, computed once per combination. */
  private staticPass(request: PlacementRequest): StaticPass {
    const key = JSON.stringify([request.driver ?? null, Object.entries(request.requires ?? {})]);
    const cached = this.statics.get(key);
    if (cached) return cached;
    const checks = prepareChecks(request, STATIC_FILTERS);
    const bits = new Uint32Array(this.words);
    const rejections: Record<string, number> = {};
    const shapes = new Set<Shape>();
    let count = 0;
    for (let h = 0; h < this.n; h++) {
      const reason = firstRejection(checks, this.base[h]!);
      if (reason !== undefined) {
        rejections[reason] = (rejections[reason] ?? 0) + 1;
      } else {
        bits[h >>> 5] |= 1 << (h & 31);
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
    const oldTie = this.tie[h]!;
    const used = RESOURCES.map((r, k) => {
      const before = -this.negativeUsed[k]![h]!;
      // The same arithmetic as withClaim and withoutClaim, so that views match place()'s copies.
      return restore ? restore[k]! : sign > 0 ? before + request.resources[r] : before - request.resources[r];
    });
    const empty = used[0] === 0 && used[1] === 0 && used[2] === 0;
    this.tie[h] = empty ? this.n + this.position[h]! : this.position[h]!;
    if (empty) clearBit(this.inUse, h);
    else setBit(this.inUse, h);
    const shape = this.shapeOf[h]! >= 0 ? this.shapes[this.shapeOf[h]!] : undefined;
    for (let k = 0; k < RESOURCES.length; k++) {
      const r = RESOURCES[k]!;
      const oldFree = this.free[k]![h]!;
      const oldNegativeUsed = this.negativeUsed[k]![h]!;
      this.free[k]![h] = host.allowance[r] - used[k]!;
      this.negativeUsed[k]![h] = -used[k]!;
      this.byFree[k]!.update(h, oldFree, h);
      if (shape) shape.orders[k]!.update(h, shape.allowance[r] > 0 ? oldNegativeUsed : 0, oldTie);
    }
    const counts = this.groupCounts[h]!;
    for (const g of groupsOf(request)) {
      const count = (counts.get(g) ?? 0) + sign;
      if (count > 0) {
        counts.set(g, count);
        this.holdersOf(g).add(h);
      } else {
        counts.delete(g);
        const set = this.holders.get(g);
        set?.delete(h);
        if (set?.size === 0) this.holders.delete(g);
      }
    }
    this.views[h] = undefined;
  }

  /** Host h as it is now in the working copy. */
  private view(h: number): HostSnapshot {
    let view = this.views[h];
    if (!view) {
      const groups: Record<string, number> = {};
      for (const [g, c] of this.groupCounts[h]!) groups[g] = c;
      view = {
        ...this.base[h]!,
        used: { cpus: -this.negativeUsed[1]![h]!, memoryMiB: -this.negativeUsed[0]![h]!, diskGiB: -this.negativeUsed[2]![h]! },
        groups,
      };
      this.views[h] = view;
    }
    return view;
  }

  private bestOf(scored: Scored[], rejections: Record<string, number>, top: number): Placement {
    scored.sort(byScore);
    const candidates = scored.slice(0, Math.max(0, top)).map((s) => {
      const h = this.base[s.index]!;
      return { hostId: h.id, hostName: h.name, score: s.score };
    });
    const best = scored[0];
    return best ? { host: this.view(best.index), rejections, candidates } : { rejections, candidates };
  }

  private tieOf(h: number, host: HostSnapshot): number {
    return isEmpty(host) ? this.n + this.position[h]! : this.position[h]!;
  }

  private holdersOf(group: string): Set<number> {
    let set = this.holders.get(group);
    if (!set) this.holders.set(group, (set = new Set()));
    return set;
  }

  private indexOf(hostId: string): number {
    const h = this.ids.get(hostId);
    if (h === undefined) throw new NotFoundError('host', hostId);
    return h;
  }
}

/** The request, made to join and avoid one more group. */
function apart(request: PlacementRequest, group: string): PlacementRequest {
  return {
    ...request,
    antiAffinity: [...(request.antiAffinity ?? []), group],
    groups: [...groupsOf(request), group],
  };
}
