// Seeded chaos on the real stack: random container commands, several in flight, over sim hosts
// that fail any operation with a seeded probability, while the worker process is SIGKILLed and
// restarted. Then the cluster is quiesced and its invariants are read from the registry, the
// sim and Temporal. The chaos test and `npm run soak` both run `runChaos`.
import { randomUUID } from 'node:crypto';
import Table from 'cli-table3';
import type { CommandHandle } from '../../src/service/commands';
import type { CommandResult } from '../../src/domain/commands';
import { CancelledError, VmflowError } from '../../src/domain/errors';
import { TASK_QUEUE } from '../../src/domain/names';
import { seededRandom } from '../../src/domain/seeded-random';
import { pauseCycles } from '../../src/monitor/schedules';
import { SIM_OPERATIONS, type FailureRuleInit } from '../../src/sim/protocol';
import type { CollectorOptions, CollectorReport, MonitorOptions, MonitorReport } from '../../workflows/monitor';
import { findViolations, type Violation } from './invariants';
import { startStack, type HostSpec, type Stack } from './stack';

/** A seeded source of choices. */
export class Random {
  private readonly next: () => number;
  constructor(readonly seed: number) {
    this.next = seededRandom(seed);
  }
  float(): number {
    return this.next();
  }
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.next() * items.length)]!;
  }
  /** Picks a key with probability proportional to its weight. */
  weighted<K extends string>(weights: Partial<Record<K, number>>): K {
    const entries = Object.entries(weights) as [K, number][];
    let x = this.next() * entries.reduce((a, [, w]) => a + w, 0);
    for (const [k, w] of entries) if ((x -= w) < 0) return k;
    return entries[entries.length - 1]![0];
  }
}

/** The seed from `CHAOS_SEED`, or a fresh one. */
export function chaosSeed(fromEnv = process.env.CHAOS_SEED): number {
  if (fromEnv !== undefined && fromEnv !== '') {
    const n = Number(fromEnv);
    if (!Number.isInteger(n)) throw new Error(`CHAOS_SEED must be an integer, not ${fromEnv}`);
    return n >>> 0;
  }
  return Math.floor(Math.random() * 2 ** 32);
}

// --- faults -------------------------------------------------------------------------------

export interface FaultRates {
  /** Chance that a call fails with an error the caller may retry. */
  readonly transient: number;
  /** Chance that a call fails for good. */
  readonly permanent: number;
}

/** Two seeded rules per driver operation (status reads included): a transient and a permanent failure. */
export function faultRules(seed: number, rates: FaultRates): FailureRuleInit[] {
  const random = new Random(seed);
  return SIM_OPERATIONS.flatMap((operation) => [
    { operation, probability: rates.transient, seed: random.int(1, 2 ** 31), transient: true, message: `chaos: transient ${operation} failure` },
    { operation, probability: rates.permanent, seed: random.int(1, 2 ** 31), transient: false, message: `chaos: ${operation} failed for good` },
  ]);
}

/** Small but non-zero: a kill lands in the middle of a step, and a run stays short. */
export const CHAOS_DELAYS: Record<string, number> = { '*': 60, define: 120, provision: 400, start: 150, stop: 150, clone: 500, migrate: 600 };

export function chaosHosts(count: number): HostSpec[] {
  return Array.from({ length: count }, (_, i) => ({ name: `ch-${String(i + 1).padStart(2, '0')}`, cpus: 4, memoryMiB: 8192, diskGiB: 120 }));
}

// --- commands ----------------------------------------------------------------------------

export type PlannedCommand =
  | { readonly command: 'create'; readonly container: string; readonly args: { definition: { kind: string; cpus: number; memoryMiB: number; diskGiB: number }; start: boolean; hint?: string } }
  | { readonly command: 'clone'; readonly container: string; readonly args: { name: string; hint?: string } }
  | { readonly command: 'migrate'; readonly container: string; readonly args: { target?: string; cold?: boolean } }
  | { readonly command: 'start' | 'stop' | 'destroy'; readonly container: string; readonly args: Record<string, never> };

export function describePlanned(p: PlannedCommand): string {
  switch (p.command) {
    case 'create':
      return `create ${p.container} (${p.args.definition.cpus} cpu${p.args.start ? '' : ', stopped'}${p.args.hint ? `, on ${p.args.hint}` : ''})`;
    case 'clone':
      return `clone ${p.container} as ${p.args.name}`;
    case 'migrate':
      return `migrate ${p.container} ${p.args.cold ? 'cold ' : ''}to ${p.args.target ?? 'any host'}`;
    default:
      return `${p.command} ${p.container}`;
  }
}

/**
 * Random commands over a pool of container names. It looks at each container's registry state
 * and mostly picks a command that state allows, sometimes one it does not (refused at submission).
 */
export class CommandGenerator {
  constructor(
    private readonly random: Random,
    readonly names: readonly string[],
    private readonly hosts: readonly string[],
    private readonly stateOf: (name: string) => Promise<string | undefined>,
  ) {}

  async next(): Promise<PlannedCommand> {
    const r = this.random;
    const container = r.pick(this.names);
    const state = await this.stateOf(container);
    const target = () => (r.chance(0.5) ? r.pick(this.hosts) : undefined);
    if (!state) {
      if (r.chance(0.2)) {
        const source = await this.find((s) => s === 'stopped');
        if (source) return { command: 'clone', container: source, args: { name: container, ...(r.chance(0.3) ? { hint: r.pick(this.hosts) } : {}) } };
      }
      const definition = { kind: 'generic', cpus: r.pick([1, 1, 2]), memoryMiB: r.pick([512, 1024, 2048]), diskGiB: r.pick([5, 10, 20]) };
      return { command: 'create', container, args: { definition, start: r.chance(0.75), ...(r.chance(0.2) ? { hint: r.pick(this.hosts) } : {}) } };
    }
    const plain = (command: 'start' | 'stop' | 'destroy'): PlannedCommand => ({ command, container, args: {} });
    switch (state) {
      case 'stopped': {
        const c = r.weighted({ start: 35, migrate: 20, clone: 20, destroy: 15, stop: 10 });
        if (c === 'migrate') return { command: 'migrate', container, args: { target: target() } };
        if (c === 'clone') {
          const free = await this.freeName();
          if (free) return { command: 'clone', container, args: { name: free } };
          return plain('start');
        }
        return plain(c);
      }
      case 'running': {
        const c = r.weighted({ stop: 35, live: 20, cold: 10, destroy: 20, start: 10, create: 5 });
        if (c === 'live') return { command: 'migrate', container, args: { target: target() } };
        if (c === 'cold') return { command: 'migrate', container, args: { target: target(), cold: true } };
        if (c === 'create') return { command: 'create', container, args: { definition: { kind: 'generic', cpus: 1, memoryMiB: 512, diskGiB: 5 }, start: true } };
        return plain(c);
      }
      default:
        return plain(r.weighted({ destroy: 50, start: 25, stop: 25 }));
    }
  }

  private async find(test: (state: string | undefined) => boolean): Promise<string | undefined> {
    const offset = this.random.int(0, this.names.length - 1);
    for (let i = 0; i < this.names.length; i++) {
      const name = this.names[(offset + i) % this.names.length]!;
      if (test(await this.stateOf(name))) return name;
    }
    return undefined;
  }

  private freeName(): Promise<string | undefined> {
    return this.find((s) => s === undefined);
  }
}

export type Outcome = 'completed' | 'failed' | 'cancelled' | 'rejected' | 'unsubmitted' | 'unended';

export interface CommandRecord {
  readonly planned: PlannedCommand;
  outcome?: Outcome;
  /** The error code of a failure or refusal. */
  code?: string;
  message?: string;
  workflowId?: string;
}

const REFUSALS = new Set(['INVALID_TRANSITION', 'NOT_FOUND', 'INVALID_INPUT', 'KEY_CONFLICT']);

function submit(stack: Stack, p: PlannedCommand): Promise<CommandHandle> {
  const c = stack.client.containers;
  switch (p.command) {
    case 'create':
      return c.create(p.container, p.args);
    case 'clone':
      return c.clone(p.container, p.args);
    case 'migrate':
      return c.migrate(p.container, p.args);
    case 'start':
      return c.start(p.container);
    case 'stop':
      return c.stop(p.container);
    case 'destroy':
      return c.destroy(p.container);
  }
}

function codeOf(err: unknown): string {
  return err instanceof VmflowError ? err.code : ((err as Error)?.name ?? 'ERROR');
}

/** Submits one command and follows it to its end; `cancelAfterMs` cancels it that long after acceptance. */
async function follow(stack: Stack, record: CommandRecord, cancelAfterMs?: number): Promise<void> {
  let handle: CommandHandle;
  try {
    handle = await submit(stack, record.planned);
  } catch (err) {
    record.outcome = REFUSALS.has(codeOf(err)) ? 'rejected' : 'unsubmitted';
    record.code = codeOf(err);
    record.message = (err as Error)?.message;
    return;
  }
  record.workflowId = handle.workflowId;
  if (cancelAfterMs !== undefined) {
    setTimeout(() => void handle.cancel().catch(() => undefined), cancelAfterMs).unref();
  }
  try {
    const r: CommandResult = await handle.result();
    record.outcome = 'completed';
    record.code = r.state;
  } catch (err) {
    record.outcome = err instanceof CancelledError ? 'cancelled' : 'failed';
    record.code = codeOf(err);
    record.message = (err as Error)?.message;
  }
}

// --- the run -----------------------------------------------------------------------------

export interface ChaosOptions {
  readonly seed: number;
  readonly commands: number;
  readonly hosts: number;
  /** Distinct container names commands are about. */
  readonly names: number;
  /** Commands in flight at once. */
  readonly lanes: number;
  /** Mean seconds between worker kills (each interval is drawn from 0.5x to 1.5x). */
  readonly killEverySeconds: number;
  readonly faults: FaultRates;
  /** Chance that a command is cancelled shortly after it is accepted. */
  readonly cancelRate: number;
  /** How long a lane follows one command before it moves on (the command keeps running). */
  readonly laneWaitMs: number;
  /** How long, once the faults are gone, every command has to end. */
  readonly quiesceTimeoutMs: number;
  readonly registryUrl?: string;
  readonly log?: (line: string) => void;
}

export const CHAOS_DEFAULTS: Omit<ChaosOptions, 'seed'> = {
  commands: 100,
  hosts: 10,
  names: 24,
  lanes: 6,
  killEverySeconds: 6,
  faults: { transient: 0.12, permanent: 0.05 },
  cancelRate: 0.1,
  laneWaitMs: 45_000,
  quiesceTimeoutMs: 180_000,
};

export interface ChaosReport {
  readonly seed: number;
  readonly database: string;
  readonly outcomes: Record<Outcome, number>;
  /** Failures and refusals by error code. */
  readonly codes: Record<string, number>;
  readonly kills: number;
  readonly faultsFired: number;
  readonly settleRounds: number;
  readonly violations: Violation[];
  readonly durationMs: number;
  readonly records: readonly CommandRecord[];
}

/** Worker settings for the run: quick schedules and a short claim time to live. */
const CLAIM_TTL_SECONDS = 10;
const MONITOR_SETTINGS: MonitorOptions = { downAfter: 3, contactEverySeconds: 60, pollTimeoutMs: 2000 };
const WORKER_ENV: Record<string, string> = {
  VMFLOW_MONITOR_INTERVAL: '5',
  VMFLOW_COLLECTOR_INTERVAL: '10',
  VMFLOW_DOWN_AFTER: String(MONITOR_SETTINGS.downAfter),
  VMFLOW_POLL_TIMEOUT_MS: String(MONITOR_SETTINGS.pollTimeoutMs),
  VMFLOW_CLAIM_TTL: String(CLAIM_TTL_SECONDS),
  VMFLOW_ORPHAN_GRACE: '20',
};

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Starts a stack with a worker process, runs the chaos, quiesces, checks; always stops the stack. */
export async function runChaos(options: ChaosOptions): Promise<ChaosReport> {
  const log = options.log ?? (() => undefined);
  // The worker process inherits these; the stack sets only its addresses and log level.
  Object.assign(process.env, WORKER_ENV);
  const started = Date.now();
  const stack = await startStack({ workerProcess: true, registryUrl: options.registryUrl });
  try {
    return await chaosOn(stack, options, log, started);
  } finally {
    await stack.stop();
  }
}

async function chaosOn(stack: Stack, o: ChaosOptions, log: (line: string) => void, started: number): Promise<ChaosReport> {
  const random = new Random(o.seed);
  const hosts = chaosHosts(o.hosts);
  await stack.addHosts(hosts);
  await stack.sim.admin.setDelays(CHAOS_DELAYS);
  const registry = stack.services.registry;
  const names = Array.from({ length: o.names }, (_, i) => `cx${String(i).padStart(2, '0')}`);
  const generator = new CommandGenerator(new Random(random.int(0, 2 ** 31)), names, hosts.map((h) => h.name), async (name) => {
    const node = await registry.findByName(name);
    return node?.type === 'container' ? node.state : undefined;
  });
  for (const rule of faultRules(random.int(0, 2 ** 31), o.faults)) await stack.sim.admin.addFailure(rule);
  log(`seed ${o.seed}: ${o.commands} commands, ${o.lanes} at once, over ${o.names} names on ${o.hosts} hosts; worker killed every ~${o.killEverySeconds} s`);

  // The killer: SIGKILL the worker process, start another, again and again.
  let kills = 0;
  let chaos = true;
  const killerRandom = new Random(random.int(0, 2 ** 31));
  const pollers = new Set<string>();
  await newWorkerPolls(stack, pollers);
  const killer = (async () => {
    while (chaos) {
      // Counted from when the worker polls, so a slow start on a busy machine still gets its time.
      await sleep(o.killEverySeconds * 1000 * (0.5 + killerRandom.float()));
      if (!chaos) break;
      await stack.killWorker();
      kills++;
      await sleep(killerRandom.int(0, 1000));
      await stack.startWorker();
      await newWorkerPolls(stack, pollers);
    }
  })();

  const records: CommandRecord[] = [];
  const following: Promise<void>[] = [];
  let submitted = 0;
  const laneRandom = new Random(random.int(0, 2 ** 31));
  const lanes = Array.from({ length: o.lanes }, async () => {
    while (submitted < o.commands) {
      submitted++;
      const record: CommandRecord = { planned: await generator.next() };
      records.push(record);
      if (records.length % 20 === 0) log(`${records.length} commands submitted, ${kills} kills so far`);
      const cancelAfter = laneRandom.chance(o.cancelRate) ? laneRandom.int(0, 2000) : undefined;
      const done = follow(stack, record, cancelAfter);
      following.push(done);
      await Promise.race([done, sleep(o.laneWaitMs)]);
    }
  });
  await Promise.all(lanes);
  chaos = false;
  await killer;

  // Quiesce: no faults, one worker, every command ends.
  const faultsFired = (await stack.sim.admin.failures()).reduce((a, r) => a + r.fired, 0);
  await stack.sim.admin.clearFailures();
  await stack.killWorker();
  await stack.startWorker();
  log(`chaos over after ${kills} kills and ${faultsFired} injected faults; waiting for every command to end`);
  await Promise.race([Promise.all(following), sleep(o.quiesceTimeoutMs)]);
  for (const r of records) r.outcome ??= 'unended';

  for (const r of records.filter((x) => x.outcome === 'unsubmitted' || x.outcome === 'unended')) {
    log(`${r.outcome}: ${describePlanned(r.planned)}: ${r.workflowId ?? r.message ?? ''}`);
  }
  const settleRounds = await settle(stack, log);
  const violations = await findViolations(stack);
  const outcomes = { completed: 0, failed: 0, cancelled: 0, rejected: 0, unsubmitted: 0, unended: 0 } as Record<Outcome, number>;
  const codes: Record<string, number> = {};
  for (const r of records) {
    outcomes[r.outcome!]++;
    if (r.outcome !== 'completed' && r.code) codes[`${r.outcome} ${r.code}`] = (codes[`${r.outcome} ${r.code}`] ?? 0) + 1;
  }
  return {
    seed: o.seed,
    database: stack.registryUrl.startsWith('sqlite:') ? 'sqlite' : 'mysql',
    outcomes,
    codes,
    kills,
    faultsFired,
    settleRounds,
    violations,
    durationMs: Date.now() - started,
    records,
  };
}

/**
 * Runs monitor and collector cycles until the cluster stops changing: the monitor and collector loops are paused
 * so the cycles do not overlap, placeholders of ended commands are given their time to live,
 * and orphans are collected without a grace period (every command has ended).
 */
export async function settle(stack: Stack, log: (line: string) => void = () => undefined, maxRounds = 8): Promise<number> {
  const temporal = stack.client.temporal;
  await pauseCycles(temporal);
  await waitForCycles(stack);
  const monitor = (): Promise<MonitorReport> =>
    temporal.workflow.execute('monitorCycle', { taskQueue: TASK_QUEUE, workflowId: `chaos-monitor-${randomUUID()}`, args: [MONITOR_SETTINGS] });
  const collect = (): Promise<CollectorReport> =>
    temporal.workflow.execute('collectorCycle', {
      taskQueue: TASK_QUEUE,
      workflowId: `chaos-collector-${randomUUID()}`,
      args: [{ claimTtlSeconds: CLAIM_TTL_SECONDS, orphanGraceSeconds: 0 } satisfies CollectorOptions],
    });
  let previous = '';
  for (let round = 1; round <= maxRounds; round++) {
    // Hosts a failover fenced (powered off) are repaired by their operator and rejoin; the
    // collector then removes their stale copies once the rebuilt ones have been seen alive.
    for (const h of await stack.sim.admin.hosts()) if (h.power !== 'up') await stack.sim.admin.rejoin(h.id);
    await failoversDone(stack);
    const m = await monitor();
    // Placeholders of ended commands go once expired: wait until the newest has.
    const placeholders = await stack.services.registry.list({ type: 'placeholder' });
    const latest = Math.max(0, ...placeholders.map((p) => Date.parse((p.definition as { expiresAt: string }).expiresAt)));
    if (latest > Date.now()) await sleep(Math.min(latest - Date.now() + 500, (CLAIM_TTL_SECONDS + 1) * 1000));
    const c = await collect();
    const now = await snapshot(stack);
    log(`settle round ${round}: ${m.drifts} drifts, ${m.orphans} orphans, down [${m.down.join(', ')}], up [${m.up.join(', ')}]; collector removed ${c.placeholdersRemoved} placeholders, ${c.abandonedRemoved} abandoned, destroyed [${c.destroyed.join(', ')}]`);
    if (now === previous && m.drifts === 0 && m.down.length === 0 && m.up.length === 0 && c.destroyed.length === 0) return round;
    previous = now;
  }
  return maxRounds;
}

/** Waits until no host failover runs (the monitor starts them; they outlive its cycle). */
async function failoversDone(stack: Stack, timeoutMs = 180_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    let running = 0;
    for await (const _ of stack.client.temporal.workflow.list({ query: `WorkflowType = 'failoverHost' AND ExecutionStatus = 'Running'` })) running++;
    if (!running || Date.now() > deadline) return;
    await sleep(1000);
  }
}

/** Waits until a worker not in `known` polls the task queue (workers name themselves pid@host), and adds it. */
async function newWorkerPolls(stack: Stack, known: Set<string>, timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const { pollers } = await stack.client.temporal.workflowService.describeTaskQueue({
      namespace: 'default',
      taskQueue: { name: TASK_QUEUE },
      taskQueueType: WORKFLOW_TASK_QUEUE,
    });
    const fresh = (pollers ?? []).map((p) => p.identity ?? '').filter((id) => id && !known.has(id));
    if (fresh.length) {
      for (const id of fresh) known.add(id);
      return;
    }
    await sleep(250);
  }
  throw new Error(`no new worker polled ${TASK_QUEUE} within ${timeoutMs} ms`);
}

/** temporal.api.enums.v1.TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW */
const WORKFLOW_TASK_QUEUE = 1;

async function waitForCycles(stack: Stack): Promise<void> {
  const query = `WorkflowType IN ('monitorCycle', 'collectorCycle') AND ExecutionStatus = 'Running'`;
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    let running = 0;
    for await (const _ of stack.client.temporal.workflow.list({ query })) running++;
    if (running === 0) return;
    await sleep(500);
  }
}

async function snapshot(stack: Stack): Promise<string> {
  const r = stack.services.registry;
  const [nodes, vms] = await Promise.all([r.list(), stack.sim.admin.vms()]);
  return JSON.stringify({
    nodes: nodes.filter((n) => n.type !== 'hypervisor').map((n) => [n.type, n.name, n.state, n.parentId]).sort(),
    hosts: nodes.filter((n) => n.type === 'hypervisor').map((n) => [n.name, n.state]).sort(),
    vms: vms.map((v) => [v.host, v.name, v.state]).sort(),
  });
}

// --- the report --------------------------------------------------------------------------

const PLAIN = { head: [], border: [] };

export function formatReport(reports: readonly ChaosReport[]): string {
  const lines: string[] = [];
  const figures = new Table({ head: ['', ...reports.map((r) => r.database)], style: PLAIN });
  const row = (label: string, f: (r: ChaosReport) => string | number) => figures.push([label, ...reports.map((r) => String(f(r)))]);
  row('seed', (r) => r.seed);
  row('commands', (r) => r.records.length);
  for (const o of ['completed', 'failed', 'cancelled', 'rejected', 'unsubmitted', 'unended'] as const) row(`  ${o}`, (r) => r.outcomes[o]);
  row('worker kills', (r) => r.kills);
  row('injected faults', (r) => r.faultsFired);
  row('settle rounds', (r) => r.settleRounds);
  row('violations', (r) => r.violations.length);
  row('duration', (r) => `${(r.durationMs / 1000).toFixed(0)} s`);
  lines.push(figures.toString());
  const codes = new Set(reports.flatMap((r) => Object.keys(r.codes)));
  if (codes.size) {
    const t = new Table({ head: ['failures and refusals', ...reports.map((r) => r.database)], style: PLAIN });
    for (const c of [...codes].sort()) t.push([c, ...reports.map((r) => String(r.codes[c] ?? 0))]);
    lines.push(t.toString());
  }
  for (const r of reports) {
    if (!r.violations.length) continue;
    const t = new Table({ head: [`${r.database} (seed ${r.seed})`, 'subject', 'detail'], colWidths: [30, 24, 90], wordWrap: true, style: PLAIN });
    for (const v of r.violations) t.push([v.invariant, v.subject, v.detail]);
    lines.push(t.toString());
  }
  return lines.join('\n');
}
