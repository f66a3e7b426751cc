// Agent (per host) and controller information, from the registry and Temporal's visibility.
import type { Client, WorkflowExecutionInfo } from '@temporalio/client';
import { NotFoundError } from '../domain/errors';
import { SEARCH_ATTRIBUTES } from '../domain/names';
import { META, type HypervisorDefinition, type Resources } from '../domain/types';
import type { NodeEvent, Registry } from '../registry/types';

export interface HostInfo {
  readonly name: string;
  readonly state: string;
  readonly lastContact: string | null;
  readonly failuresInRow: number;
  readonly lastError: string | null;
  readonly load: number | null;
  readonly capacity: Resources;
  /** What the host itself last reported free. */
  readonly free: Resources | null;
  /** What vmflow has claimed on it: containers and live placeholders. */
  readonly claimed: Resources;
  readonly containers: number;
  readonly commandsInFlight: ReadonlyArray<{ workflowId: string; type: string; startedAt: string }>;
  readonly recentFailures: ReadonlyArray<{ workflowId: string; type: string; closedAt: string | null }>;
  readonly recentEvents: readonly NodeEvent[];
}

export interface CommandStats {
  readonly type: string;
  readonly started: number;
  readonly running: number;
  readonly completed: number;
  readonly failed: number;
  readonly cancelled: number;
  /** Over the most recent closed commands of this type, in seconds. */
  readonly durations: { readonly count: number; readonly mean: number; readonly p50: number; readonly p95: number; readonly max: number } | null;
}

export interface ControllerInfo {
  readonly at: string;
  readonly commands: readonly CommandStats[];
}

const COMMAND_TYPES = [
  'createContainer',
  'startContainer',
  'stopContainer',
  'shutdownContainer',
  'rebootContainer',
  'suspendContainer',
  'resumeContainer',
  'updateContainer',
  'destroyContainer',
  'cloneContainer',
  'migrateContainer',
  'environmentCommand',
  'addHypervisor',
];

async function collect(iter: AsyncIterable<WorkflowExecutionInfo>, max: number): Promise<WorkflowExecutionInfo[]> {
  const out: WorkflowExecutionInfo[] = [];
  for await (const w of iter) {
    out.push(w);
    if (out.length >= max) break;
  }
  return out;
}

function quantile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

export class Info {
  constructor(
    private readonly temporal: Client,
    private readonly registry: Registry,
  ) {}

  async host(name: string): Promise<HostInfo> {
    const node = await this.registry.findByName(name);
    if (!node || node.type !== 'hypervisor') throw new NotFoundError('hypervisor', name);
    const md = node.metadata;
    const q = (status: string) => `${SEARCH_ATTRIBUTES.hypervisor} = '${name}' AND ExecutionStatus = '${status}'`;
    const [running, failed, events, claimed, containers] = await Promise.all([
      collect(this.temporal.workflow.list({ query: q('Running') }), 50),
      collect(this.temporal.workflow.list({ query: q('Failed') }), 10),
      this.registry.events(node.id, 10),
      this.registry.usage(node.id),
      this.registry.count({ type: 'container', parentId: node.id }),
    ]);
    return {
      name: node.name,
      state: node.state,
      lastContact: (md[META.lastContact] as string | undefined) ?? null,
      failuresInRow: (md[META.failuresInRow] as number | undefined) ?? 0,
      lastError: (md[META.lastError] as string | undefined) ?? null,
      load: (md[META.load] as number | undefined) ?? null,
      capacity: (node.definition as HypervisorDefinition).capacity,
      free: (md[META.free] as Resources | undefined) ?? null,
      claimed,
      containers,
      commandsInFlight: running.map((w) => ({ workflowId: w.workflowId, type: w.type, startedAt: w.startTime.toISOString() })),
      recentFailures: failed.map((w) => ({ workflowId: w.workflowId, type: w.type, closedAt: w.closeTime?.toISOString() ?? null })),
      recentEvents: events,
    };
  }

  /** Commands started, running, completed, failed and cancelled per type, and their recent durations. */
  async controller(options: { sample?: number } = {}): Promise<ControllerInfo> {
    const sample = options.sample ?? 200;
    const commands = await Promise.all(
      COMMAND_TYPES.map(async (type): Promise<CommandStats> => {
        const count = async (status?: string) =>
          Number((await this.temporal.workflow.count(`WorkflowType = '${type}'${status ? ` AND ExecutionStatus = '${status}'` : ''}`)).count);
        const [started, running, completed, failed, cancelled, closed] = await Promise.all([
          count(),
          count('Running'),
          count('Completed'),
          count('Failed'),
          count('Canceled'),
          collect(this.temporal.workflow.list({ query: `WorkflowType = '${type}' AND ExecutionStatus = 'Completed'` }), sample),
        ]);
        const seconds = closed
          .filter((w) => w.closeTime)
          .map((w) => (w.closeTime!.getTime() - w.startTime.getTime()) / 1000)
          .sort((a, b) => a - b);
        return {
          type,
          started,
          running,
          completed,
          failed,
          cancelled,
          durations: seconds.length
            ? { count: seconds.length, mean: seconds.reduce((a, b) => a + b, 0) / seconds.length, p50: quantile(seconds, 0.5), p95: quantile(seconds, 0.95), max: seconds[seconds.length - 1]! }
            : null,
        };
      }),
    );
    return { at: new Date().toISOString(), commands };
  }
}
