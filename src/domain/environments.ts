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
  create: { readonly description?: string; readonly antiAffinity?: boolean };
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
    default:
      return `${req.command} environment ${req.environment}`;
  }
}
