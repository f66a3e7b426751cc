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
import { clearBit, forEachBit, hasBit, popcount, wordsFor } from './bitset';
import { fitsOn, freeOf, isEmpty, RESOURCES } from './capacity';
import { explain } from './explain';
import { firstRejection, prepareChecks, STATIC_FILTERS } from './filters';
import { OrderedHosts } from './ordered-hosts';
import { bestOf, DEFAULT_TOP, placeInOrder, type Scored } from './place';
import { REASON } from './reasons';
import { shuffledOrder } from './shuffle';
import type {
  AllocatorOptions,
  GroupOptions,
  GroupPlacement,
  HostSnapshot,
  Placement,
  PlacementRequest,
  WeigherName,
} from './types';
import { prepareScore, weightsOf } from './weighers';
import { groupsOf, withClaim, withoutClaim } from './working-copy';

/** Options of one decision; the seed is the allocator's, fixed when it was built. */
export type PlaceOptions = Omit<AllocatorOptions, 'seed'>;

/** Up hosts with the same driver, labels and allowance. */
interface Shape {
  readonly allowance: Resources;
  readonly members: number[];
  /** Per resource: by used amount descending (by nothing when the shape has none of it), then tie. */
  orders: OrderedHosts[];
}

/** What the static filters (state, driver, labels) make of one driver + labels combination. */
interface StaticPass {
  readonly bits: Uint32Array;
  readonly count: number;
  readonly rejections: Readonly<Record<string, number>>;
  readonly shapes: readonly Shape[];
}

/** With this few feasible hosts, scoring them all is cheaper than walking the orders. */
const SPARSE = 0;
const STATIC_CACHE_SIZE = 256;

export class Allocator {
  private readonly n: number;
  private readonly words: number;
  private readonly work: HostSnapshot[];
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
  private readonly seen: Int32Array;
  private visit = 0;
  private groupSerial = 0;

  constructor(hosts: readonly HostSnapshot[], private readonly options: AllocatorOptions = {}) {
    const n = hosts.length;
    this.n = n;
    this.words = wordsFor(n);
    this.work = hosts.slice();
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
      const host = this.work[h]!;
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
    this.seen = new Int32Array(n);
  }

  /** The working copy: the snapshot with every commit and release applied. */
  hosts(): HostSnapshot[] {
    return this.work.slice();
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
    let memoryFits = 0;
    let cpuFits = 0;
    let fit = 0;
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
          if (mcd !== 0) fit += popcount(mcd);
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
      const host = this.work[h]!;
      if (!fitsOn(host, need, 'memoryMiB')) fullOnMemory--;
      else if (!fitsOn(host, need, 'cpus')) fullOnCpu--;
      else if (!fitsOn(host, need, 'diskGiB')) fullOnDisk--;
      else {
        fit--;
        clearBit(feasible, h);
      }
    }
    let apart = 0;
    for (const g of request.antiAffinity ?? []) {
      for (const h of this.holders.get(g) ?? []) {
        if (hasBit(feasible, h)) {
          clearBit(feasible, h);
          fit--;
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

    const weights = weightsOf(options);
    const score = prepareScore(request, weights);
    const top = options.top ?? DEFAULT_TOP;
    const scored: Scored[] = this.candidates(request, pass, fit, weights, options.maxCandidates, Math.max(1, top)).map(
      (h) => ({ index: h, position: this.position[h]!, score: score(this.work[h]!) }),
    );
    return bestOf(this.work, scored, rejections, top);
  }

  /** Adds the request's resources and groups to a host of the working copy. */
  commit(hostId: string, request: PlacementRequest): void {
    const h = this.indexOf(hostId);
    this.replace(h, withClaim(this.work[h]!, request));
  }

  /** Takes a committed request off its host again (a claim released, a container gone). */
  release(hostId: string, request: PlacementRequest): void {
    const h = this.indexOf(hostId);
    this.replace(h, withoutClaim(this.work[h]!, request));
  }

  /**
   * Places a whole environment: each request in turn, committed before the next. If one does not
   * fit, every commit of the batch is undone and the answer says which request failed and why.
   */
  placeGroup(requests: readonly PlacementRequest[], options: GroupOptions & PlaceOptions = {}): GroupPlacement {
    const { antiAffinity, ...overrides } = options;
    const group =
      antiAffinity === true ? `placement-group:${++this.groupSerial}` : antiAffinity ? antiAffinity : undefined;
    const undo: Array<{ h: number; before: HostSnapshot }> = [];
    const placements: Placement[] = [];
    for (let i = 0; i < requests.length; i++) {
      const request = group ? apart(requests[i]!, group) : requests[i]!;
      const placement = this.place(request, overrides);
      if (!placement.host) {
        for (let u = undo.length - 1; u >= 0; u--) this.replace(undo[u]!.h, undo[u]!.before);
        return { ok: false, index: i, request: requests[i]!, placement, explanation: explain(placement) };
      }
      const h = this.indexOf(placement.host.id);
      undo.push({ h, before: this.work[h]! });
      this.replace(h, withClaim(this.work[h]!, request));
      placements.push(placement);
    }
    return group ? { ok: true, placements, group } : { ok: true, placements };
  }

  /**
   * The hosts worth scoring, given the bitset of feasible ones. With the default kind of weights
   * (bin-pack, plus affinity) the top N by score are among: for each shape and resource, the first
   * N feasible hosts in that shape's order (the highest share of that resource after placement,
   * used hosts first, then shuffled position — the score's own tie-break); and the hosts holding an
   * affinity group. A host outside both has N hosts ahead of it on its dominant resource, each
   * scoring at least as much and winning ties. Other weights score every feasible host.
   */
  private candidates(
    request: PlacementRequest,
    pass: StaticPass,
    feasibleCount: number,
    weights: Readonly<Partial<Record<WeigherName, number>>>,
    maxCandidates: number | undefined,
    need: number,
  ): number[] {
    const feasible = this.feasible;
    const out: number[] = [];
    if (maxCandidates !== undefined) {
      // As place(): the first feasible hosts in shuffled order.
      const cap = Math.max(1, maxCandidates);
      for (let p = 0; p < this.n && out.length < cap; p++) {
        const h = this.byPosition[p]!;
        if (hasBit(feasible, h)) out.push(h);
      }
      return out;
    }
    const binpack = weights.binpack ?? 0;
    const affinity = weights.affinity ?? 0;
    const binpackLed = Number.isFinite(binpack) && binpack > 0 && affinity >= 0 && !weights.spread && !weights.leastLoaded;
    if (!binpackLed || feasibleCount <= SPARSE) {
      forEachBit(feasible, (h) => out.push(h));
      return out;
    }
    const visit = ++this.visit;
    const take = (h: number) => {
      if (this.seen[h] !== visit) {
        this.seen[h] = visit;
        out.push(h);
      }
    };
    for (const shape of pass.shapes) {
      for (let k = 0; k < RESOURCES.length; k++) {
        const r = RESOURCES[k]!;
        const q = request.resources[r];
        const free = this.free[k]!;
        const index = shape.orders[k]!;
        const order = index.order;
        // Hosts before the first that has room for q are full on r: skip them.
        let p = shape.allowance[r] > 0 ? index.firstWhere((h) => q <= free[h]!) : 0;
        for (let found = 0; p < order.length && found < need; p++) {
          const h = order[p]!;
          if (hasBit(feasible, h)) {
            take(h);
            found++;
          }
        }
      }
    }
    if (affinity > 0) {
      for (const g of request.affinity ?? []) {
        for (const h of this.holders.get(g) ?? []) if (hasBit(feasible, h)) take(h);
      }
    }
    return out;
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
    return placeInOrder(this.work, order, request, options, rejections);
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
      const reason = firstRejection(checks, this.work[h]!);
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

  /** Puts a new version of host h in the working copy and moves it in every index. */
  private replace(h: number, next: HostSnapshot): void {
    const before = this.work[h]!;
    this.work[h] = next;
    const oldTie = this.tie[h]!;
    this.tie[h] = this.tieOf(h, next);
    const shape = this.shapeOf[h]! >= 0 ? this.shapes[this.shapeOf[h]!] : undefined;
    for (let k = 0; k < RESOURCES.length; k++) {
      const r = RESOURCES[k]!;
      const oldFree = this.free[k]![h]!;
      const oldNegativeUsed = this.negativeUsed[k]![h]!;
      this.free[k]![h] = freeOf(next, r);
      this.negativeUsed[k]![h] = -next.used[r];
      this.byFree[k]!.update(h, oldFree, h);
      if (shape) shape.orders[k]!.update(h, shape.allowance[r] > 0 ? oldNegativeUsed : 0, oldTie);
    }
    for (const g in next.groups) if (next.groups[g]! > 0 && !((before.groups[g] ?? 0) > 0)) this.holdersOf(g).add(h);
    for (const g in before.groups) {
      if (before.groups[g]! > 0 && !((next.groups[g] ?? 0) > 0)) {
        const set = this.holders.get(g);
        set?.delete(h);
        if (set?.size === 0) this.holders.delete(g);
      }
    }
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
