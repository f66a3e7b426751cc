// Container kinds and their event handlers (Cloud48's Container event interface).
import type { ContainerDefinition, HaPolicy } from '../domain/types';

export const HOOK_EVENTS = [
  'beforeItIsAdded',
  'afterItIsAdded',
  'beforeOtherIsAdded',
  'afterOtherIsAdded',
  'beforeItIsRemoved',
  'afterOtherIsRemoved',
  'isDown',
  'isUp',
  'afterControllerStart',
  'beforeControllerStop',
] as const;
export type HookEvent = (typeof HOOK_EVENTS)[number];

/** A container as its environment's hooks see it. */
export interface Member {
  readonly id: string;
  readonly name: string;
  readonly kind: string;
  readonly priority: number;
  readonly ip: string;
  readonly state: string;
  readonly host?: string;
}

/** A command a handler asks the environment to run before the current one goes on. */
export type RequestedCommand =
  /** Add a new container of `kind` (named by the workflow unless `name` is given). */
  | { readonly run: 'add'; readonly kind: string; readonly name?: string; readonly definition?: Partial<ContainerDefinition>; readonly avoidHost?: string }
  /** Replace this (down) container with a new one of the same kind elsewhere; the old one becomes illegal. */
  | { readonly run: 'replace'; readonly member: string };

export type HookDecision =
  | { readonly allow: true; readonly run?: readonly RequestedCommand[] }
  | { readonly allow: false; readonly reason: string };

export const ALLOW: HookDecision = { allow: true };

export interface HookContext {
  readonly event: HookEvent;
  readonly environment: { readonly id: string; readonly name: string; readonly members: readonly Member[] };
  /** The container whose handler runs. */
  readonly self: Member;
  /** The container being added, removed, or gone down (for *Other* events). */
  readonly other?: Member;
  /** Why a container is down (`host crashed`, `unreachable`). */
  readonly cause?: string;
  /** Writes a configuration file inside this handler's own container, through its host's driver. */
  configure(path: string, content: string): Promise<void>;
}

export type Handler = (ctx: HookContext) => Promise<HookDecision> | HookDecision;

/** A container kind: its priority (lowest first) and its handlers. */
export interface ContainerKind {
  readonly name: string;
  readonly priority: number;
  /**
   * What a failover does with containers of this kind when their host goes down, unless their
   * definition says otherwise: `restart` rebuilds them on another host, `none` leaves them lost.
   */
  readonly ha: HaPolicy;
  /** Defaults for containers of this kind that a handler asks for. */
  readonly defaults: Omit<ContainerDefinition, 'network' | 'kind'>;
  readonly handlers: Partial<Record<HookEvent, Handler>>;
}
