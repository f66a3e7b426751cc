// Container commands: their names, arguments, and which states they apply to. Pure.
import type { ContainerDefinition } from './types';
import { InvalidInputError, InvalidTransitionError } from './errors';

export const CONTAINER_COMMANDS = [
  'create',
  'start',
  'stop',
  'shutdown',
  'reboot',
  'suspend',
  'resume',
  'update',
  'destroy',
  'clone',
  'migrate',
  'reconcile',
  'failover',
] as const;
export type ContainerCommand = (typeof CONTAINER_COMMANDS)[number];

/** The container's state as its entity tracks it; `absent` before create and after destroy. */
export type TrackedState = 'absent' | 'new' | 'stopped' | 'running' | 'suspended' | 'lost' | 'illegal' | 'missing' | 'unknown' | 'destroyed';

export interface CreateArgs {
  readonly definition: Omit<ContainerDefinition, 'network'> & { readonly network?: Partial<ContainerDefinition['network']> };
  readonly tags?: Record<string, string>;
  /** Host id or name to place it on. */
  readonly hint?: string;
  /** Start it once built. Default true. */
  readonly start?: boolean;
  /** Anti-affinity groups and own groups, set by environment commands. */
  readonly groups?: readonly string[];
  readonly antiAffinity?: readonly string[];
  /** Host names or ids it must not be placed on (the host of the container it replaces). */
  readonly exclude?: readonly string[];
}
export interface UpdateArgs {
  readonly definition: Partial<Omit<ContainerDefinition, 'network' | 'kind'>>;
}
export interface CloneArgs {
  readonly name: string;
  readonly ip?: string;
  readonly mac?: string;
  readonly hint?: string;
  readonly tags?: Record<string, string>;
}
export interface MigrateArgs {
  /** Host id or name; the allocator chooses when absent. */
  readonly target?: string;
  /** Force cold migration of a running container (stop, move, start). */
  readonly cold?: boolean;
}
export interface FailoverArgs {
  /** The host that went down. */
  readonly from: string;
  /** Why: shown in the container's state cause and history. */
  readonly cause: string;
}
export interface ShutdownArgs {
  readonly timeoutMs?: number;
}

export interface CommandArgs {
  create: CreateArgs;
  start: Record<string, never>;
  stop: Record<string, never>;
  shutdown: ShutdownArgs;
  reboot: Record<string, never>;
  suspend: Record<string, never>;
  resume: Record<string, never>;
  update: UpdateArgs;
  destroy: Record<string, never>;
  clone: CloneArgs;
  migrate: MigrateArgs;
  reconcile: Record<string, never>;
  failover: FailoverArgs;
}

/** What the client submits to a container's entity workflow. */
export interface CommandRequest<C extends ContainerCommand = ContainerCommand> {
  readonly commandId: string;
  readonly command: C;
  readonly container: string;
  readonly args: CommandArgs[C];
  /** ISO time the client sent it. */
  readonly requestedAt?: string;
  readonly requestedBy?: string;
  /** The environment whose command asked for this one, for the Web UI. */
  readonly environment?: string;
  /** How long a failed command's undo keeps retrying before it leaves the container `unknown`. */
  readonly undoLimitSeconds?: number;
}

export interface CommandAccepted {
  readonly commandId: string;
  readonly workflowId: string;
  /** Commands ahead of this one. */
  readonly position: number;
}

/** What a finished command returns. */
export interface CommandResult {
  readonly commandId: string;
  readonly command: ContainerCommand;
  readonly container: string;
  readonly containerId?: string;
  /** The container's state afterwards. */
  readonly state: TrackedState;
  readonly host?: string;
  /** For clone: the new container. */
  readonly created?: { readonly id: string; readonly name: string; readonly host: string };
  readonly steps: readonly string[];
}

export interface CommandProgress {
  readonly commandId: string;
  readonly command: ContainerCommand;
  readonly container: string;
  readonly phase: 'queued' | 'running' | 'compensating' | 'completed' | 'failed' | 'cancelled';
  readonly step: string;
  readonly stepsDone: readonly string[];
  /** 0..1 for the current step when the driver reports it. */
  readonly fraction?: number;
  readonly ahead?: number;
  readonly host?: string;
  readonly target?: string;
  readonly error?: string;
}

/** States each command applies to, and the state it leaves on success. */
const TRANSITIONS: Record<ContainerCommand, { from: readonly TrackedState[]; to: (from: TrackedState, args: any) => TrackedState }> = {
  create: { from: ['absent'], to: (_f, a: CreateArgs) => (a.start === false ? 'stopped' : 'running') },
  start: { from: ['stopped'], to: () => 'running' },
  stop: { from: ['running', 'suspended'], to: () => 'stopped' },
  shutdown: { from: ['running'], to: () => 'stopped' },
  reboot: { from: ['running'], to: () => 'running' },
  suspend: { from: ['running'], to: () => 'suspended' },
  resume: { from: ['suspended'], to: () => 'running' },
  update: { from: ['stopped'], to: () => 'stopped' },
  // `new` accepts nothing: its create is still running (or was killed, and the collector removes it).
  destroy: { from: ['stopped', 'running', 'suspended', 'lost', 'illegal', 'missing', 'unknown'], to: () => 'destroyed' },
  clone: { from: ['stopped'], to: (f) => f },
  migrate: { from: ['stopped', 'running'], to: (f) => f },
  // Its outcome is whatever the hosts show; until it has run, later commands see the state as it is.
  reconcile: { from: ['stopped', 'running', 'suspended', 'lost', 'missing', 'unknown'], to: (f) => f },
  // Rebuilt on another host in the state it had when its host went down.
  failover: { from: ['lost'], to: () => 'running' },
};

const WHY: Partial<Record<ContainerCommand, string>> = {
  start: 'only a stopped container starts',
  update: 'stop it first: a definition changes only while stopped',
  clone: 'stop it first: only a stopped container is cloned',
  migrate: 'only a running (live) or stopped (cold) container migrates',
  suspend: 'only a running container is suspended',
  resume: 'only a suspended container resumes',
};

/** Definition keys that are placement policy, not the VM: an update of only these needs no stop. */
export const POLICY_KEYS: readonly string[] = ['ha', 'haPriority', 'haMaxRestarts', 'haRestartWindowMinutes'];

/** Whether an update changes only the HA policy (the registry's record; the host is not touched). */
export function isPolicyUpdate(args: { definition?: object } | undefined): boolean {
  const keys = Object.keys(args?.definition ?? {});
  return keys.length > 0 && keys.every((k) => POLICY_KEYS.includes(k));
}

export const POLICY_UPDATE_FROM: readonly TrackedState[] = ['stopped', 'running', 'suspended', 'lost', 'missing', 'unknown'];

/** Why a flagged container accepts only `reconcile` and `destroy`. */
const FLAGGED: Partial<Record<TrackedState, string>> = {
  unknown: 'where its VM is has not been verified; reconcile it (or destroy it) first',
  missing: 'its VM is not on its host; reconcile it (or destroy it) first',
};

/**
 * The state a command leaves, or the reason it cannot run from `state`:
 * `cannot start web1: it is destroyed`.
 */
export function nextState<C extends ContainerCommand>(state: TrackedState, command: C, container: string, args: CommandArgs[C]): TrackedState {
  const t = TRANSITIONS[command];
  if (!t) throw new InvalidInputError([{ field: 'command', problem: `is not one of ${CONTAINER_COMMANDS.join(', ')}` }], 'command');
  if (command === 'update' && isPolicyUpdate(args as CommandArgs['update']) && POLICY_UPDATE_FROM.includes(state)) return state;
  if (!t.from.includes(state)) {
    const reason =
      state === 'destroyed' || state === 'absent'
        ? `it ${state === 'absent' ? 'does not exist' : 'is destroyed'}`
        : state === 'new'
          ? 'it is still being created'
          : command === 'create'
          ? 'it already exists'
          : `it is ${state}${FLAGGED[state] ? `; ${FLAGGED[state]}` : WHY[command] ? `; ${WHY[command]}` : ''}`;
    throw new InvalidTransitionError(command, container, state, reason);
  }
  return t.to(state, args);
}

export function isContainerCommand(s: string): s is ContainerCommand {
  return (CONTAINER_COMMANDS as readonly string[]).includes(s);
}

/** A sentence for the Web UI: what the command does. */
export function describeCommand(req: Pick<CommandRequest, 'command' | 'container' | 'args'>): string {
  const a = req.args as any;
  switch (req.command) {
    case 'create':
      return `create ${req.container} (${a.definition?.kind ?? 'generic'}, ${a.definition?.cpus} cpu, ${a.definition?.memoryMiB} MiB)${a.hint ? ` on ${a.hint}` : ''}`;
    case 'clone':
      return `clone ${req.container} as ${a.name}`;
    case 'migrate':
      return `migrate ${req.container}${a.target ? ` to ${a.target}` : ' to a host the allocator picks'}`;
    case 'failover':
      return `fail ${req.container} over from ${a.from}`;
    case 'update':
      return `update ${req.container}: ${Object.keys(a.definition ?? {}).join(', ')}`;
    default:
      return `${req.command} ${req.container}`;
  }
}
