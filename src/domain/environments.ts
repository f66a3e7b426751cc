// Environment commands: names, arguments, and which states they apply to. Pure.
import type { ContainerDefinition } from './types';
import { InvalidInputError, InvalidTransitionError, type FieldProblem } from './errors';

export const ENVIRONMENT_COMMANDS = ['create', 'add', 'remove', 'start', 'stop', 'suspend', 'resume', 'destroy', 'down', 'up', 'controller'] as const;
export type EnvironmentCommand = (typeof ENVIRONMENT_COMMANDS)[number];

export type EnvironmentState = 'absent' | 'active' | 'destroyed';

export interface NewMember {
  readonly name: string;
  readonly definition: Omit<ContainerDefinition, 'network'> & { readonly network?: Partial<ContainerDefinition['network']> };
  readonly hint?: string;
}

export interface EnvironmentArgs {
  /**
   * `members`: new containers created with the environment, placed all or nothing: capacity for
   * every one of them is claimed in one registry transaction before any is built.
   */
  create: { readonly description?: string; readonly antiAffinity?: boolean; readonly members?: readonly NewMember[] };
  /** Either an existing container or a new one. `kind` defaults to the container's definition.kind. */
  add: { readonly container?: string; readonly create?: NewMember };
  remove: { readonly container: string; readonly destroy?: boolean };
  start: Record<string, never>;
  stop: Record<string, never>;
  suspend: Record<string, never>;
  resume: Record<string, never>;
  destroy: Record<string, never>;
  /** A member stopped being available: its host crashed or does not answer. */
  /** `host`: the host that went down, when a host did; a container no longer there is not marked lost. */
  down: { readonly container: string; readonly cause: string; readonly host?: string };
  up: { readonly container: string };
  controller: { readonly event: 'afterControllerStart' | 'beforeControllerStop' };
}

export interface EnvironmentRequest<C extends EnvironmentCommand = EnvironmentCommand> {
  readonly commandId: string;
  readonly command: C;
  readonly environment: string;
  readonly args: EnvironmentArgs[C];
  readonly requestedAt?: string;
  readonly requestedBy?: string;
}

export interface EnvironmentResult {
  readonly commandId: string;
  readonly command: EnvironmentCommand;
  readonly environment: string;
  readonly state: EnvironmentState;
  readonly steps: readonly string[];
  /** Containers the command created (a balancer asked for by a hook, a replacement). */
  readonly created?: readonly string[];
}

export function isEnvironmentCommand(s: unknown): s is EnvironmentCommand {
  return typeof s === 'string' && (ENVIRONMENT_COMMANDS as readonly string[]).includes(s);
}

/** Problems with a request's arguments, beyond its command name. */
export function environmentArgProblems(req: EnvironmentRequest): FieldProblem[] {
  const a = (req.args ?? {}) as Record<string, unknown>;
  const problems: FieldProblem[] = [];
  const str = (f: string) => typeof a[f] === 'string' && (a[f] as string).length > 0;
  switch (req.command) {
    case 'create':
      if (a.members !== undefined) problems.push(...memberListProblems(a.members));
      break;
    case 'add':
      if (!!a.container === !!a.create) problems.push({ field: 'args', problem: 'needs exactly one of container (an existing one) or create (a new one)' });
      if (a.container !== undefined && !str('container')) problems.push({ field: 'args.container', problem: 'must be a container name' });
      if (a.create !== undefined && (typeof a.create !== 'object' || typeof (a.create as NewMember).name !== 'string' || typeof (a.create as NewMember).definition !== 'object'))
        problems.push({ field: 'args.create', problem: 'must have a name and a definition' });
      break;
    case 'remove':
    case 'up':
      if (!str('container')) problems.push({ field: 'args.container', problem: 'must be a container name' });
      break;
    case 'down':
      if (!str('container')) problems.push({ field: 'args.container', problem: 'must be a container name' });
      if (!str('cause')) problems.push({ field: 'args.cause', problem: 'must say why it is down' });
      break;
    case 'controller':
      if (a.event !== 'afterControllerStart' && a.event !== 'beforeControllerStop') problems.push({ field: 'args.event', problem: 'must be afterControllerStart or beforeControllerStop' });
      break;
  }
  return problems;
}

/** How many members an environment create may place at once. */
export const MAX_CREATE_MEMBERS = 100;

function memberListProblems(members: unknown): FieldProblem[] {
  if (!Array.isArray(members)) return [{ field: 'args.members', problem: 'must be an array of new members (name and definition)' }];
  if (members.length > MAX_CREATE_MEMBERS) return [{ field: 'args.members', problem: `must have at most ${MAX_CREATE_MEMBERS} members` }];
  const problems: FieldProblem[] = [];
  const seen = new Set<string>();
  members.forEach((m, i) => {
    const member = m as Partial<NewMember> | null;
    if (typeof member !== 'object' || member === null || typeof member.name !== 'string' || typeof member.definition !== 'object' || member.definition === null) {
      problems.push({ field: `args.members[${i}]`, problem: 'must have a name and a definition' });
      return;
    }
    if (seen.has(member.name)) problems.push({ field: `args.members[${i}].name`, problem: `${member.name} is named twice` });
    seen.add(member.name);
  });
  return problems;
}

export function nextEnvironmentState(state: EnvironmentState, command: EnvironmentCommand, environment: string): EnvironmentState {
  if (command === 'create') {
    if (state !== 'absent') throw new InvalidTransitionError(command, environment, state, state === 'destroyed' ? 'it is destroyed' : 'it already exists');
    return 'active';
  }
  if (state !== 'active') throw new InvalidTransitionError(command, environment, state, state === 'absent' ? 'it does not exist' : `it is ${state}`);
  return command === 'destroy' ? 'destroyed' : 'active';
}

export function checkEnvironmentRequest(req: EnvironmentRequest, environment: string): void {
  const problems: FieldProblem[] = [];
  if (!isEnvironmentCommand(req.command)) problems.push({ field: 'command', problem: `is not one of ${ENVIRONMENT_COMMANDS.join(', ')}` });
  if (req.environment !== environment) problems.push({ field: 'environment', problem: `must be ${environment}, the environment this entity serves` });
  if (!problems.length) problems.push(...environmentArgProblems(req));
  if (problems.length) throw new InvalidInputError(problems, 'environment command');
}

export function describeEnvironmentCommand(req: Pick<EnvironmentRequest, 'command' | 'environment' | 'args'>): string {
  const a = req.args as any;
  switch (req.command) {
    case 'add':
      return `add ${a.container ?? `new ${a.create?.definition?.kind ?? 'generic'} ${a.create?.name}`} to environment ${req.environment}`;
    case 'remove':
      return `remove ${a.container} from environment ${req.environment}${a.destroy ? ' and destroy it' : ''}`;
    case 'down':
      return `${a.container} of environment ${req.environment} is down: ${a.cause}`;
    case 'up':
      return `${a.container} of environment ${req.environment} is up again`;
    case 'controller':
      return `${a.event} for environment ${req.environment}`;
    case 'create':
      return `create environment ${req.environment}${a.members?.length ? ` with ${a.members.map((m: NewMember) => m.name).join(', ')}` : ''}`;
    default:
      return `${req.command} environment ${req.environment}`;
  }
}
