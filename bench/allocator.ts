// Allocator benchmark: `npx tsx bench/allocator.ts [section names...]`.
//
// Decisions per second of the indexed Allocator over 10,000 hosts and 100,000 placements (each
// committed before the next), bin-pack quality against a lower bound, cluster compaction (Verma,
// Korupolu and Wilkes, 2014), the same run with a naive first-fit and with place()'s full scan,
// and committed placements per second by 8 placer processes on 10,000 registered hosts, on SQLite
// and on MariaDB, through the Placer commands use against the old snapshot-per-placement path,
// in the same run (section `placement`).
// Everything is seeded: two runs place the same containers on the same hosts.
import Table from 'cli-table3';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import path from 'node:path';
import { Allocator, place, seededRandom, shuffledOrder, withClaim } from '../src/allocator';
import { FirstFitAllocator } from './first-fit';
import type { HostSnapshot, Placement, PlacementRequest } from '../src/allocator';
import type { HypervisorDefinition, Resources } from '../src/domain/types';
import { openRegistry, type SqlRegistry } from '../src/registry';
import { runPlacers, type PlacerMode, type PlacerResult } from '../test/allocator/concurrent-placer';
import { startMariaDb, type MariaDb } from '../test/support/mariadb';

// ---------------------------------------------------------------------------------------------
// Seeded workload

const GiB = 1024;

/** A host type: what one machine offers. */
interface HostType {
  readonly name: string;
  readonly capacity: Resources;
  readonly weight: number;
}

const STANDARD_HOST: HostType = { name: 'std', capacity: { cpus: 64, memoryMiB: 192 * GiB, diskGiB: 4000 }, weight: 1 };

/** The mixed fleet of the compaction run (Borg cells are heterogeneous). */
const MIXED_FLEET: readonly HostType[] = [
  { name: 'small', capacity: { cpus: 32, memoryMiB: 128 * GiB, diskGiB: 2000 }, weight: 3 },
  STANDARD_HOST,
  { name: 'memory', capacity: { cpus: 64, memoryMiB: 512 * GiB, diskGiB: 4000 }, weight: 2 },
  { name: 'big', capacity: { cpus: 128, memoryMiB: 384 * GiB, diskGiB: 8000 }, weight: 1 },
];

interface Flavor {
  readonly resources: Resources;
  readonly weight: number;
}

/** Container sizes, small ones most common; cpu : memory from 1:1 to 1:8. */
const FLAVORS: readonly Flavor[] = [
  { resources: { cpus: 1, memoryMiB: 1 * GiB, diskGiB: 10 }, weight: 10 },
  { resources: { cpus: 1, memoryMiB: 2 * GiB, diskGiB: 20 }, weight: 20 },
  { resources: { cpus: 2, memoryMiB: 4 * GiB, diskGiB: 40 }, weight: 25 },
  { resources: { cpus: 4, memoryMiB: 8 * GiB, diskGiB: 80 }, weight: 18 },
  { resources: { cpus: 8, memoryMiB: 16 * GiB, diskGiB: 160 }, weight: 9 },
  { resources: { cpus: 2, memoryMiB: 16 * GiB, diskGiB: 40 }, weight: 8 },
  { resources: { cpus: 4, memoryMiB: 32 * GiB, diskGiB: 80 }, weight: 4 },
  { resources: { cpus: 8, memoryMiB: 8 * GiB, diskGiB: 40 }, weight: 4 },
  { resources: { cpus: 16, memoryMiB: 64 * GiB, diskGiB: 320 }, weight: 2 },
];

const ZONES = ['a', 'b', 'c'] as const;

function pick<T extends { readonly weight: number }>(items: readonly T[], random: () => number): T {
  const total = items.reduce((s, i) => s + i.weight, 0);
  let x = random() * total;
  for (const item of items) if ((x -= item.weight) < 0) return item;
  return items[items.length - 1]!;
}

/** `count` empty hypervisors in three zones; `downShare` of them down. */
export function cluster(count: number, seed: number, types: readonly HostType[] = [STANDARD_HOST], downShare = 0.01): HostSnapshot[] {
  const random = seededRandom(seed);
  return Array.from({ length: count }, (_, i) => ({
    id: `hv-${i}`,
    name: `hv-${i}`,
    state: random() < downShare ? 'down' : 'up',
    driver: 'sim',
    labels: { zone: ZONES[i % ZONES.length]! },
    allowance: pick(types, random).capacity,
    used: { cpus: 0, memoryMiB: 0, diskGiB: 0 },
    load: 0,
    groups: {},
  }));
}

/**
 * `count` placements of mixed sizes: environments of 1–8 containers whose web tier (2–5 of them)
 * keeps apart by anti-affinity, and 5% of containers pinned to a zone.
 */
export function workload(count: number, seed: number): PlacementRequest[] {
  const random = seededRandom(seed);
  const requests: PlacementRequest[] = [];
  for (let env = 0; requests.length < count; env++) {
    const web = random() < 0.3 ? 2 + Math.floor(random() * 4) : 0;
    const others = 1 + Math.floor(random() * 3);
    for (let i = 0; i < web + others && requests.length < count; i++) {
      const zone = random() < 0.05 ? { zone: ZONES[Math.floor(random() * ZONES.length)]! } : undefined;
      const isWeb = i < web;
      requests.push({
        name: `env${env}-${isWeb ? 'web' : 'app'}${i}`,
        resources: pick(FLAVORS, random).resources,
        ...(zone ? { requires: zone } : {}),
        ...(isWeb ? { antiAffinity: [`env:${env}/web`] } : {}),
        groups: isWeb ? [`env:${env}`, `env:${env}/web`] : [`env:${env}`],
      });
    }
  }
  return requests;
}

// ---------------------------------------------------------------------------------------------
// Runs

interface Placer {
  place(request: PlacementRequest): Placement;
  commit(hostId: string, request: PlacementRequest): void;
  hosts(): HostSnapshot[];
}

interface RunResult {
  readonly decisions: number;
  readonly refused: number;
  /** Wall-clock seconds, and CPU seconds of this process (all threads, GC included). */
  readonly seconds: number;
  readonly cpuSeconds: number;
  readonly hostsUsed: number;
  readonly placed: Resources;
}

/** Places every request in turn, committing each before the next; stops at the first refusal when asked. */
function run(placer: Placer, requests: readonly PlacementRequest[], stopAtRefusal = false): RunResult {
  let refused = 0;
  let cpus = 0;
  let memoryMiB = 0;
  let diskGiB = 0;
  let decisions = 0;
  const started = performance.now();
  const cpuStarted = process.cpuUsage();
  for (const request of requests) {
    decisions++;
    const placement = placer.place(request);
    if (!placement.host) {
      refused++;
      if (stopAtRefusal) break;
      continue;
    }
    placer.commit(placement.host.id, request);
    cpus += request.resources.cpus;
    memoryMiB += request.resources.memoryMiB;
    diskGiB += request.resources.diskGiB;
  }
  const seconds = (performance.now() - started) / 1000;
  const cpu = process.cpuUsage(cpuStarted);
  const cpuSeconds = (cpu.user + cpu.system) / 1e6;
  const hostsUsed = placer.hosts().filter((h) => h.used.cpus > 0 || h.used.memoryMiB > 0 || h.used.diskGiB > 0).length;
  return { decisions, refused, seconds, cpuSeconds, hostsUsed, placed: { cpus, memoryMiB, diskGiB } };
}

/** place() over a plain array: the simple pure pipeline, a full scan per decision. */
class FullScanPlacer implements Placer {
  private work: HostSnapshot[];
  private readonly ids: Map<string, number>;
  constructor(hosts: readonly HostSnapshot[], private readonly seed: number) {
    this.work = hosts.slice();
    this.ids = new Map(this.work.map((h, i) => [h.id, i]));
  }
  place(request: PlacementRequest): Placement {
    return place(this.work, request, { seed: this.seed });
  }
  commit(hostId: string, request: PlacementRequest): void {
    const i = this.ids.get(hostId)!;
    this.work[i] = withClaim(this.work[i]!, request);
  }
  hosts(): HostSnapshot[] {
    return this.work;
  }
}

/** max(ceil(memory demand / host memory), ceil(cpu demand / host cpus)), for one host type. */
function lowerBound(placed: Resources, host: Resources): number {
  return Math.max(Math.ceil(placed.memoryMiB / host.memoryMiB), Math.ceil(placed.cpus / host.cpus), Math.ceil(placed.diskGiB / host.diskGiB));
}

/** The shortest prefix of `hosts` (up ones counted) whose totals cover the demand: compaction's lower bound. */
function prefixLowerBound(hosts: readonly HostSnapshot[], demand: Resources): number {
  let cpus = 0;
  let memoryMiB = 0;
  let diskGiB = 0;
  for (let k = 0; k < hosts.length; k++) {
    const h = hosts[k]!;
    if (h.state === 'up') {
      cpus += h.allowance.cpus;
      memoryMiB += h.allowance.memoryMiB;
      diskGiB += h.allowance.diskGiB;
    }
    if (cpus >= demand.cpus && memoryMiB >= demand.memoryMiB && diskGiB >= demand.diskGiB) return k + 1;
  }
  return Infinity;
}

function total(requests: readonly PlacementRequest[]): Resources {
  return requests.reduce(
    (t, r) => ({ cpus: t.cpus + r.resources.cpus, memoryMiB: t.memoryMiB + r.resources.memoryMiB, diskGiB: t.diskGiB + r.resources.diskGiB }),
    { cpus: 0, memoryMiB: 0, diskGiB: 0 },
  );
}

// ---------------------------------------------------------------------------------------------
// Sections

export interface BenchRow {
  readonly measure: string;
  readonly result: string;
  readonly target?: string;
  /** Whether the target is met; undefined for rows without one. */
  readonly met?: boolean;
}

export interface BenchConfig {
  readonly hosts: number;
  readonly placements: number;
  readonly seed: number;
  /** Decisions of place()'s full scan to time (a full run would take minutes). */
  readonly fullScanSample: number;
  readonly compaction: { readonly hosts: number; readonly placements: number; readonly shuffles: number };
  /**
   * Placer processes on SQLite and on MariaDB: `baselinePlacements` through the old path (a
   * snapshot per placement), then `placements` through the Placer commands use (a working copy per
   * process), on the same registered hosts, the first run's claims removed in between.
   */
  readonly placement: {
    readonly processes: number;
    /**
     * Placements in flight at once per process (sharing the process's Placer and registry, as a
     * worker's activities do): one Placer run per entry. The baseline runs one at a time.
     */
    readonly lanes: readonly number[];
    readonly hosts: number;
    readonly placements: number;
    readonly baselinePlacements: number;
  };
}

export const DEFAULT_CONFIG: BenchConfig = {
  hosts: 10_000,
  placements: 100_000,
  seed: 42,
  fullScanSample: 1_000,
  compaction: { hosts: 2_000, placements: 20_000, shuffles: 5 },
  placement: { processes: 8, lanes: [16, 1], hosts: 10_000, placements: 8_000, baselinePlacements: 2_000 },
};

/** What the sections share: the configuration and the runs already made. */
export class BenchContext {
  private readonly memo = new Map<string, unknown>();
  constructor(readonly config: BenchConfig) {}

  once<T>(key: string, make: () => T): T {
    if (!this.memo.has(key)) this.memo.set(key, make());
    return this.memo.get(key) as T;
  }

  get hosts(): HostSnapshot[] {
    return this.once('hosts', () => cluster(this.config.hosts, this.config.seed));
  }

  get workload(): PlacementRequest[] {
    return this.once('workload', () => workload(this.config.placements, this.config.seed + 1));
  }

  get indexedRun(): RunResult {
    return this.once('indexed', () => run(new Allocator(this.hosts, { seed: this.config.seed }), this.workload));
  }

  get firstFitRun(): RunResult {
    return this.once('firstFit', () => run(new FirstFitAllocator(this.hosts), this.workload));
  }
}

export interface BenchSection {
  readonly name: string;
  readonly title: string;
  rows(context: BenchContext): Promise<BenchRow[]> | BenchRow[];
}

/** `12,345/s wall (8.1 s), 23,456/s CPU (4.3 s)`. */
function rates(r: RunResult): string {
  return `${fmt(r.decisions / r.seconds)}/s wall (${fmt(r.seconds, 2)} s), ${fmt(r.decisions / r.cpuSeconds)}/s CPU time (${fmt(r.cpuSeconds, 2)} s)`;
}

const fmt = (n: number, digits = 0) => n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });

const decisionRate: BenchSection = {
  name: 'rate',
  title: 'Decisions per second, one process (indexed Allocator, bin-pack)',
  rows(ctx) {
    const r = ctx.indexedRun;
    const rate = r.decisions / r.seconds;
    return [
      {
        measure: `${fmt(ctx.config.placements)} placements on ${fmt(ctx.config.hosts)} hosts, each committed`,
        result: rates(r),
        target: '≥ 20,000/s (wall)',
        met: rate >= 20_000,
      },
      { measure: 'mean decision + commit', result: `${fmt((r.seconds / r.decisions) * 1e6, 1)} µs wall, ${fmt((r.cpuSeconds / r.decisions) * 1e6, 1)} µs CPU` },
      { measure: 'refused placements', result: fmt(r.refused) },
    ];
  },
};

const packing: BenchSection = {
  name: 'packing',
  title: 'Packing quality (bin-pack, same run)',
  rows(ctx) {
    const r = ctx.indexedRun;
    const bound = lowerBound(r.placed, STANDARD_HOST.capacity);
    const ratio = r.hostsUsed / bound;
    return [
      {
        measure: 'hosts used / lower bound',
        result: `${fmt(r.hostsUsed)} / ${fmt(bound)} = ${fmt(ratio, 3)}`,
        target: '≤ 1.05',
        met: ratio <= 1.05,
      },
    ];
  },
};

const firstFitBaseline: BenchSection = {
  name: 'first-fit',
  title: 'Against the naive first-fit over all hosts (same hosts, same placements)',
  rows(ctx) {
    const ours = ctx.indexedRun;
    const naive = ctx.firstFitRun;
    const bound = lowerBound(naive.placed, STANDARD_HOST.capacity);
    return [
      { measure: 'first-fit decisions/s', result: `${rates(naive)}; ${fmt(naive.refused)} refused` },
      {
        measure: 'speed: indexed / first-fit',
        result: `${fmt(naive.seconds / ours.seconds, 1)}× wall, ${fmt(naive.cpuSeconds / ours.cpuSeconds, 1)}× CPU time`,
      },
      { measure: 'first-fit hosts used / lower bound', result: `${fmt(naive.hostsUsed)} / ${fmt(bound)} = ${fmt(naive.hostsUsed / bound, 3)}` },
      { measure: 'hosts used: indexed bin-pack / first-fit', result: fmt(ours.hostsUsed / naive.hostsUsed, 3) },
    ];
  },
};

const fullScan: BenchSection = {
  name: 'full-scan',
  title: "place() over a plain array (the simple pure pipeline: a full scan per decision)",
  rows(ctx) {
    const sample = ctx.workload.slice(0, ctx.config.fullScanSample);
    const r = run(new FullScanPlacer(ctx.hosts, ctx.config.seed), sample);
    const ours = ctx.indexedRun;
    return [
      { measure: `first ${fmt(sample.length)} placements on ${fmt(ctx.config.hosts)} hosts`, result: rates(r) },
      { measure: 'speed: indexed / full scan (CPU time per decision)', result: `${fmt(r.cpuSeconds / r.decisions / (ours.cpuSeconds / ours.decisions), 0)}×` },
    ];
  },
};

/**
 * Verma et al.'s compaction: the fewest hosts, taken in a shuffled order, on which the whole
 * workload still fits; a binary search on the prefix length, once per shuffle.
 */
const compaction: BenchSection = {
  name: 'compaction',
  title: 'Cluster compaction (Verma, Korupolu, Wilkes 2014), mixed fleet of 4 host types',
  rows(ctx) {
    const { hosts: size, placements, shuffles } = ctx.config.compaction;
    const fleet = cluster(size, ctx.config.seed + 2, MIXED_FLEET, 0);
    const requests = workload(placements, ctx.config.seed + 3);
    const demand = total(requests);
    const results: Array<{ hosts: number; bound: number }> = [];
    let trials = 0;
    const started = performance.now();
    for (let s = 0; s < shuffles; s++) {
      const order = shuffledOrder(fleet.length, 1000 + s);
      const shuffled = Array.from(order, (i) => fleet[i]!);
      const fits = (k: number) => {
        trials++;
        return run(new Allocator(shuffled.slice(0, k), { seed: s }), requests, true).refused === 0;
      };
      const bound = prefixLowerBound(shuffled, demand);
      let lo = Math.min(bound, shuffled.length);
      let hi = shuffled.length;
      if (!fits(hi)) throw new Error('the compaction workload does not fit the whole fleet');
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if (fits(mid)) hi = mid;
        else lo = mid + 1;
      }
      results.push({ hosts: lo, bound });
    }
    const seconds = (performance.now() - started) / 1000;
    const ratios = results.map((r) => r.hosts / r.bound).sort((a, b) => a - b);
    const counts = results.map((r) => r.hosts).sort((a, b) => a - b);
    const median = (xs: number[]) => xs[Math.floor(xs.length / 2)]!;
    return [
      {
        measure: `fewest hosts for ${fmt(placements)} placements, ${shuffles} shuffles of ${fmt(size)} hosts`,
        result: `min ${fmt(counts[0]!)} / median ${fmt(median(counts))} / max ${fmt(counts[counts.length - 1]!)}`,
      },
      {
        measure: 'compacted / shuffled-prefix lower bound',
        result: `min ${fmt(ratios[0]!, 3)} / median ${fmt(median(ratios), 3)} / max ${fmt(ratios[ratios.length - 1]!, 3)}`,
      },
      { measure: 'binary-search runs', result: `${fmt(trials)} runs in ${fmt(seconds, 1)} s` },
    ];
  },
};

// ---------------------------------------------------------------------------------------------
// Placer processes on MariaDB

/** CPU ms used so far by our child process named `name` (the throwaway mariadbd); NaN when not ours (MYSQL_URL) or not Linux. */
function childCpuMs(names: readonly string[]): number {
  const ticks = 100; // USER_HZ on Linux
  try {
    for (const pid of readdirSync('/proc')) {
      if (!/^\d+$/.test(pid)) continue;
      let stat: string;
      try {
        stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      } catch {
        continue;
      }
      const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (names.includes(name) && Number(fields[1]) === process.pid) return ((Number(fields[11]) + Number(fields[12])) * 1000) / ticks;
    }
  } catch {
    // no /proc
  }
  return NaN;
}

interface PlacerRun {
  readonly mode: PlacerMode;
  readonly placements: number;
  readonly committed: number;
  readonly refused: number;
  readonly retried: number;
  readonly wallMs: number;
  readonly results: readonly PlacerResult[];
  /** CPU ms of the throwaway mariadbd during the run; NaN when unknown. */
  readonly databaseCpuMs: number;
  readonly load: readonly [number, number];
}

interface CapacityCheck {
  readonly hosts: number;
  readonly over: readonly string[];
  readonly apart: number;
}

/** Registers the hosts of `cluster()` as hypervisors, `parallel` adds at a time. */
async function registerHosts(registry: SqlRegistry, hosts: readonly HostSnapshot[], parallel = 8): Promise<void> {
  for (let i = 0; i < hosts.length; i += parallel) {
    await Promise.all(
      hosts.slice(i, i + parallel).map((h) => {
        const definition: HypervisorDefinition = { driver: 'sim', address: `http://127.0.0.1:7070/hosts/${h.name}`, capacity: h.allowance, labels: { ...h.labels } };
        return registry.add({ type: 'hypervisor', name: h.name, definition, state: h.state });
      }),
    );
  }
}

/**
 * `requests` placed by `processes` processes at once, each through its own registry connection;
 * all the containers of one environment go to one process (vmflow runs one command at a time per
 * environment, so its anti-affinity is never raced).
 */
async function placeConcurrently(
  url: string,
  mode: PlacerMode,
  requests: readonly PlacementRequest[],
  processes: number,
  lanes: number,
  seed: number,
): Promise<PlacerRun> {
  const envOf = (r: PlacementRequest) => Number(/^env(\d+)-/.exec(r.name)?.[1] ?? 0);
  const plans = Array.from({ length: processes }, (_, worker) => ({
    url,
    worker,
    mode,
    seed,
    lanes,
    ttlSeconds: 3600,
    placements: requests.flatMap((request, i) => (envOf(request) % processes === worker ? [{ commandId: `${mode}-${i}`, request }] : [])),
  }));
  const load = os.loadavg()[0]!;
  const cpuBefore = childCpuMs(['mariadbd', 'mysqld']);
  const { results, wallMs } = await runPlacers(plans);
  const databaseCpuMs = childCpuMs(['mariadbd', 'mysqld']) - cpuBefore;
  const outcomes = results.flatMap((r) => r.outcomes);
  const failed = outcomes.filter((o) => !o.ok && o.error !== 'NoCapacityError');
  if (failed.length) throw new Error(`${failed.length} placements failed otherwise than for capacity: ${JSON.stringify(failed[0])}`);
  const committed = outcomes.filter((o) => o.ok).length;
  return {
    mode,
    placements: outcomes.length,
    committed,
    refused: outcomes.length - committed,
    retried: outcomes.filter((o) => o.ok && o.attempts > 1).length,
    wallMs,
    results,
    databaseCpuMs,
    load: [load, os.loadavg()[0]!],
  };
}

/** Hosts over their allowance by the registry's snapshot or by a direct SQL sum, or where the two disagree; web tiers sharing a host. */
async function checkCapacity(registry: SqlRegistry): Promise<CapacityCheck> {
  const snapshot = await registry.hostSnapshot();
  const sums: Array<{ parentId: string; cpus: unknown; memoryMiB: unknown; diskGiB: unknown }> = await registry.dataSource.query(
    'SELECT `parent_id` AS parentId, SUM(`res_cpus`) AS cpus, SUM(`res_memory_mib`) AS memoryMiB, SUM(`res_disk_gib`) AS diskGiB ' +
      "FROM `nodes` WHERE `parent_id` IS NOT NULL AND `type` IN ('placeholder', 'container') GROUP BY `parent_id`",
  );
  const summed = new Map(sums.map((r) => [r.parentId, { cpus: Number(r.cpus), memoryMiB: Number(r.memoryMiB), diskGiB: Number(r.diskGiB) }]));
  const over: string[] = [];
  for (const h of snapshot) {
    const sql = summed.get(h.id) ?? { cpus: 0, memoryMiB: 0, diskGiB: 0 };
    for (const r of ['cpus', 'memoryMiB', 'diskGiB'] as const) {
      if (h.used[r] > h.allowance[r] || sql[r] > h.allowance[r] || sql[r] !== h.used[r]) over.push(`${h.name} ${r}: ${sql[r]} of ${h.allowance[r]}`);
    }
  }
  // Anti-affinity: a web tier (`env:N/web`) never twice on one host.
  let apart = 0;
  for (const h of snapshot) for (const [g, n] of Object.entries(h.groups)) if (g.endsWith('/web') && n > 1) apart += n - 1;
  return { hosts: snapshot.length, over, apart };
}

function placerRows(run: PlacerRun, label: string, target?: number): BenchRow[] {
  const t = run.results.map((r) => r.timings);
  const sum = (f: (x: (typeof t)[number]) => number) => t.reduce((a, x) => a + f(x), 0);
  const rate = run.committed / (run.wallMs / 1000);
  const per = (ms: number) => `${fmt(ms / run.committed, 2)} ms`;
  const placerCpu = sum((x) => x.cpuMs);
  const cpuPer = (placerCpu + (Number.isNaN(run.databaseCpuMs) ? 0 : run.databaseCpuMs)) / run.committed;
  const rows: BenchRow[] = [
    {
      measure: `${label}: ${fmt(run.placements)} placements by ${t.length} processes`,
      result:
        `${fmt(rate)} committed/s (${fmt(run.committed)} in ${fmt(run.wallMs / 1000, 1)} s wall), ${fmt(run.refused)} refused, ` +
        `${fmt(run.retried)} committed after a lost race; load ${fmt(run.load[0], 1)} → ${fmt(run.load[1], 1)}`,
      ...(target !== undefined ? { target: `≥ ${fmt(target)}/s`, met: rate >= target } : {}),
    },
    {
      measure: `${label}: time per committed placement, summed over the placers`,
      result:
        `snapshots ${per(sum((x) => x.snapshotMs))} (${fmt(sum((x) => x.snapshots))} full reads, ${fmt(sum((x) => x.hostReads))} host reads in ${fmt(sum((x) => x.hostReadQueries))} queries), ` +
        `claims ${per(sum((x) => x.claimMs))} (${fmt(sum((x) => x.claims))} claims in ${fmt(sum((x) => x.claimTransactions))} transactions, ${fmt(sum((x) => x.lostRaces))} lost races), ` +
        `in all ${per(sum((x) => x.totalMs))}`,
    },
    {
      measure: `${label}: CPU per committed placement`,
      result:
        `placers ${per(placerCpu)}, mariadbd ${Number.isNaN(run.databaseCpuMs) ? 'n/a' : per(run.databaseCpuMs)}: ` +
        `${fmt(cpuPer, 2)} ms in all: at that cost ${os.cpus().length} idle cores would top out near ${fmt((1000 / cpuPer) * os.cpus().length)}/s`,
    },
  ];
  return rows;
}

/** Removes every claim: the next run starts from the same empty hosts. */
async function removeClaims(registry: SqlRegistry): Promise<void> {
  await registry.dataSource.query("DELETE FROM `node_keys` WHERE `node_id` IN (SELECT `id` FROM `nodes` WHERE `type` = 'placeholder')");
  await registry.dataSource.query("DELETE FROM `nodes` WHERE `type` = 'placeholder'");
}

/** A registry of `hostCount` hosts on each database, placed on by the old path, then by the Placer; the ratio of the two. */
const concurrentPlacement: BenchSection = {
  name: 'placement',
  title: 'Committed placements per second, 8 placer processes on 10,000 registered hosts: the Placer commands use against the old snapshot-per-placement path, same run',
  async rows(ctx) {
    const { processes, lanes, hosts: hostCount, placements, baselinePlacements } = ctx.config.placement;
    const hosts = cluster(hostCount, ctx.config.seed + 4);
    const requests = workload(Math.max(placements, baselinePlacements), ctx.config.seed + 5);
    const rows: BenchRow[] = [];
    const databases: Array<{ name: string; open: () => Promise<{ url: string; parallel: number; stop: () => Promise<void> } | undefined> }> = [
      {
        name: 'SQLite',
        open: async () => {
          const dir = mkdtempSync(path.join(os.tmpdir(), 'vmflow-bench-'));
          return { url: `sqlite:${path.join(dir, 'registry.sqlite')}`, parallel: 1, stop: async () => rmSync(dir, { recursive: true, force: true }) };
        },
      },
      {
        name: 'MariaDB',
        open: async () => {
          const server: MariaDb | undefined = await startMariaDb();
          return server && { url: await server.newDatabase(), parallel: 32, stop: () => server.stop() };
        },
      },
    ];
    for (const db of databases) {
      const opened = await db.open();
      if (!opened) {
        rows.push({ measure: `${db.name}: not measured`, result: 'no MariaDB here: install mariadb-server or set MYSQL_URL', target: '≥ 1,000/s', met: false });
        continue;
      }
      const registry = await openRegistry({ url: opened.url });
      try {
        const registered = performance.now();
        await registerHosts(registry, hosts, opened.parallel);
        rows.push({ measure: `${db.name}: ${fmt(hostCount)} hosts registered`, result: `in ${fmt((performance.now() - registered) / 1000, 1)} s` });
        const checks: CapacityCheck[] = [];
        const lostPer = (r: PlacerRun) => (r.results.reduce((a, x) => a + x.timings.lostRaces, 0) / r.placements) * 2_000;
        const rate = (r: PlacerRun) => r.committed / (r.wallMs / 1000);
        let before: PlacerRun | undefined;
        if (baselinePlacements > 0) {
          before = await placeConcurrently(opened.url, 'snapshot', requests.slice(0, baselinePlacements), processes, 1, ctx.config.seed);
          rows.push(...placerRows(before, `${db.name}, before: a snapshot per placement, seed 0, 1 in flight per process`));
          checks.push(await checkCapacity(registry));
          await removeClaims(registry);
        }
        for (const [i, inFlight] of lanes.entries()) {
          if (i > 0) await removeClaims(registry);
          const after = await placeConcurrently(opened.url, 'placer', requests.slice(0, placements), processes, inFlight, ctx.config.seed);
          rows.push(...placerRows(after, `${db.name}, the Placer, ${inFlight} in flight per process`, 1_000));
          checks.push(await checkCapacity(registry));
          rows.push({
            measure: `${db.name}, ${inFlight} in flight: lost races per 2,000 placements`,
            result: `${fmt(lostPer(after))}${before ? ` (before: ${fmt(lostPer(before))}); committed/s ${fmt(rate(after) / rate(before), 1)}× before's` : ''}`,
          });
        }
        const over = checks.flatMap((c) => c.over);
        rows.push({
          measure: `${db.name}: hosts over capacity after any run, or whose snapshot and direct SQL sum disagree`,
          result: over.length ? `${over.length}: ${over.slice(0, 3).join('; ')}` : '0',
          target: '0',
          met: over.length === 0,
        });
        const apart = checks.reduce((a, c) => a + c.apart, 0);
        rows.push({ measure: `${db.name}: web tiers sharing a host (anti-affinity)`, result: fmt(apart), target: '0', met: apart === 0 });
      } finally {
        await registry.close();
        await opened.stop();
      }
    }
    return rows;
  },
};

/** The sections, in print order. */
export const SECTIONS: BenchSection[] = [decisionRate, packing, firstFitBaseline, fullScan, compaction, concurrentPlacement];

export async function main(names: readonly string[] = process.argv.slice(2), config = DEFAULT_CONFIG): Promise<void> {
  const loadBefore = os.loadavg();
  const context = new BenchContext(config);
  const chosen = names.length ? SECTIONS.filter((s) => names.includes(s.name)) : SECTIONS;
  const table = new Table({ head: ['measure', 'result', 'target', 'met'], wordWrap: true, style: { head: [], border: [] } });
  for (const section of chosen) {
    const rows = await section.rows(context);
    table.push([{ colSpan: 4, content: section.title }]);
    for (const row of rows) {
      table.push([row.measure, row.result, row.target ?? '', row.met === undefined ? '' : row.met ? 'yes' : 'NO']);
    }
  }
  const load = (l: number[]) => l.map((x) => x.toFixed(1)).join(' ');
  console.log(`allocator benchmark: node ${process.version}, ${os.cpus().length} cores, seed ${config.seed}`);
  console.log(`load average (1/5/15 min) before: ${load(loadBefore)}, after: ${load(os.loadavg())}`);
  console.log(table.toString());
}

if (require.main === module) {
  main().catch((err) => {
    console.error(err);
    process.exit(1);
  });
}
