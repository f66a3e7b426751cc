// Every signal, update and query of vmflow's workflows, defined once: workflows set their
// handlers with these objects and clients send them, so a name never drifts between the two.
// The names are part of stored histories: changing one breaks replay of running workflows.
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { CommandAccepted, CommandProgress } from './commands';

/** The fields every command submitted to an entity carries. */
export interface EntityRequest {
  readonly commandId: string;
  readonly command: string;
  readonly args: object;
  readonly requestedBy?: string;
  readonly requestedAt?: string;
}

export interface FinishedCommand {
  readonly commandId: string;
  readonly command: string;
  readonly workflowId: string;
  readonly outcome: 'completed' | 'failed' | 'cancelled';
  readonly error?: string;
}

/** An entity's queue (the running command first) and its recently finished commands. */
export interface EntityStatus {
  readonly target: string;
  readonly state: string;
  readonly queue: ReadonlyArray<{ commandId: string; command: string; workflowId: string; running: boolean }>;
  readonly recent: readonly FinishedCommand[];
}

export interface ReorderArgs {
  readonly commandId: string;
  /** 0 = next to run. */
  readonly position: number;
}

export interface RetargetArgs {
  readonly target?: string;
}

export interface ObservedState {
  readonly state: string;
  readonly cause: string;
}

// Entities (container/<name>, environment/<name>).
/** Accepts a command into the entity's queue; the validator refuses an impossible one. */
export const submitUpdate = defineUpdate<CommandAccepted, [EntityRequest]>('submit');
/** Moves a queued (not yet running) command to a new position in the queue. */
export const reorderUpdate = defineUpdate<string[], [ReorderArgs]>('reorder');
/** The monitor reports what it observed (a VM stopped behind vmflow's back). */
export const observedSignal = defineSignal<[ObservedState]>('observed');
export const entityStatusQuery = defineQuery<EntityStatus>('status');

// Commands (container/<name>/<command>/<id>, environment/<name>/<command>/<id>).
export const progressQuery = defineQuery<CommandProgress>('progress');
/** Sent by the command's entity when the command may run. */
export const turnSignal = defineSignal('turn');
/** Changes a migration's target before its placeholder is claimed. */
export const retargetUpdate = defineUpdate<{ target?: string }, [RetargetArgs]>('retarget');

/** A host failover's progress: what is rebuilt, what failed, what is still to do. */
export interface FailoverProgress {
  readonly host: string;
  /** Every host this failover covers (the monitor fails over the hosts that went down together as one). */
  readonly hosts?: readonly string[];
  readonly fenced: boolean;
  readonly restarted: ReadonlyArray<{ readonly name: string; readonly host?: string; readonly from?: string }>;
  /** Containers left lost: `code` NO_CAPACITY when no host could take them, RESTART_LIMIT past `haMaxRestarts`. */
  readonly failed: ReadonlyArray<{ readonly name: string; readonly error: string; readonly code?: string }>;
  /** Containers whose policy is `none`, left lost. */
  readonly stayed: readonly string[];
  readonly pending?: readonly string[];
}
export const failoverProgressQuery = defineQuery<FailoverProgress>('failoverProgress');

/** A drain's progress: what moved (and whether cold), what could not, what is left. */
export interface DrainProgress {
  readonly host: string;
  readonly moved: ReadonlyArray<{ readonly name: string; readonly host?: string; readonly cold: boolean }>;
  readonly failed: ReadonlyArray<{ readonly name: string; readonly error: string }>;
  readonly pending: readonly string[];
  readonly current?: string;
}
export const drainProgressQuery = defineQuery<DrainProgress>('drainProgress');

/**
 * What each message does, as the workflows describe their handlers (`temporal workflow metadata`,
 * the Web UI's "Send update/query" forms). The README's "Temporal messages" section shows them in use.
 */
export const MESSAGE_DESCRIPTIONS = {
  submit: 'Queue a command on this container or environment: {commandId, command, args, requestedBy?}. Refused at once, with the reason, when it cannot run from the state the queue leads to.',
  reorder: 'Move a queued command that has not started: {commandId, position}, the running command being at 0 (1 = next to run; 0 too, as nothing moves ahead of the running command). Answers the new order; refused when the new order is not a valid sequence of transitions.',
  observed: 'Report a state seen on the host (the monitor sends it): {state, cause}. Ignored while a command runs.',
  status: 'The entity\'s state, its queue (running command first) and its last finished commands.',
  progress: 'The command\'s phase (queued, running, compensating, completed, failed, cancelled), its current step, the steps done, its host and target.',
  turn: 'Sent by the entity when a queued command may run. Not for people.',
  retarget: 'Change the target host of a migration before it has claimed capacity: {target} (a host name or id; omit it to let the allocator choose).',
  failoverProgress: 'A host failover: fenced or not, containers rebuilt, failed, left lost, still to do.',
  drainProgress: 'A drain: containers moved (cold or live), those that could not be, the one moving now, those left.',
  settings: 'Change the interval or the options of the cycles to come: {everySeconds?, options?}. The wait for the next cycle starts again; a value that is not valid is ignored.',
  pause: 'Stop starting cycles (answers once the cycle in progress has ended) or start again: {paused}.',
  loopStatus: 'The settings in force, whether it is paused, and the last cycle: when it ran, how long it took, its report or error.',
} as const;

// The monitor's and the collector's long-lived workflows (vmflow-monitor, vmflow-collector).
export interface CycleSettings<O = object> {
  readonly everySeconds?: number;
  readonly options?: O;
}
export interface CycleRecord<R = unknown> {
  readonly startedAt: string;
  readonly durationMs: number;
  readonly report?: R;
  readonly error?: string;
}
export interface LoopStatus<O = object, R = unknown> {
  readonly everySeconds: number;
  readonly options: O;
  readonly paused: boolean;
  readonly last: CycleRecord<R> | null;
}
/** Changes the interval or the options of the cycles to come. A signal: it is taken even while no worker runs. */
export const cycleSettingsSignal = defineSignal<[CycleSettings]>('settings');
/** Holds or resumes the cycles; pausing answers once the cycle in progress has ended. */
export const pauseCyclesUpdate = defineUpdate<{ paused: boolean }, [{ paused: boolean }]>('pause');
export const loopStatusQuery = defineQuery<LoopStatus>('status');
