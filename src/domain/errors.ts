// Typed errors. Each has a stable `name`, a machine-readable `code`, the ids it concerns as
// readonly fields, and a message a person can act on. Pure: importable by workflow code.
import { ApplicationFailure } from '@temporalio/common';

export type ErrorCode =
  | 'INVALID_INPUT'
  | 'NOT_FOUND'
  | 'KEY_CONFLICT'
  | 'VERSION_CONFLICT'
  | 'HAS_CHILDREN'
  | 'NO_CAPACITY'
  | 'INVALID_TRANSITION'
  | 'DRIVER_ERROR'
  | 'VM_MISSING'
  | 'UNDO_INCOMPLETE'
  | 'HOST_UNREACHABLE'
  | 'DENIED'
  | 'CANCELLED'
  | 'UNAUTHENTICATED'
  | 'FORBIDDEN'
  | 'INTERNAL';

/** The structured fields of an error as they travel: what `details()` returns. */
type Details = Record<string, any>;

export interface FieldProblem {
  readonly field: string;
  readonly problem: string;
}

/** Base of every vmflow error. `details` holds the structured fields, for transport. */
export class VmflowError extends Error {
  override readonly name: string = 'VmflowError';
  readonly code: ErrorCode = 'INTERNAL';
  /** Permanent errors are not retried by Temporal. */
  readonly permanent: boolean = true;
  details(): Record<string, unknown> {
    return {};
  }
}

/** Thrown when input is malformed; lists every bad field at once. */
export class InvalidInputError extends VmflowError {
  override readonly name = 'InvalidInputError';
  override readonly code = 'INVALID_INPUT';
  constructor(readonly problems: readonly FieldProblem[], readonly subject = 'input') {
    super(`invalid ${subject}: ${problems.map((p) => `${p.field} ${p.problem}`).join('; ')}`);
  }
  static fromDetails(d: Details): InvalidInputError {
    return new InvalidInputError(d.problems ?? [], d.subject);
  }
  override details() {
    return { problems: this.problems, subject: this.subject };
  }
}

/** Thrown when a node, command or key does not exist. */
export class NotFoundError extends VmflowError {
  override readonly name = 'NotFoundError';
  override readonly code = 'NOT_FOUND';
  constructor(readonly what: string, readonly ref: string) {
    super(`${what} ${ref} not found`);
  }
  static fromDetails(d: Details): NotFoundError {
    return new NotFoundError(d.what, d.ref);
  }
  override details() {
    return { what: this.what, ref: this.ref };
  }
}

/** Thrown when a unique key is already owned by another node. */
export class KeyConflictError extends VmflowError {
  override readonly name = 'KeyConflictError';
  override readonly code = 'KEY_CONFLICT';
  constructor(readonly key: string, readonly ownerId: string, readonly ownerName?: string) {
    super(`key ${key} is already owned by ${ownerName ? `${ownerName} (${ownerId})` : ownerId}`);
  }
  static fromDetails(d: Details): KeyConflictError {
    return new KeyConflictError(d.key, d.ownerId, d.ownerName);
  }
  override details() {
    return { key: this.key, ownerId: this.ownerId, ownerName: this.ownerName };
  }
}

/** Thrown when a write carried a version that is no longer current. */
export class VersionConflictError extends VmflowError {
  override readonly name = 'VersionConflictError';
  override readonly code = 'VERSION_CONFLICT';
  constructor(readonly nodeId: string, readonly expected: number, readonly actual: number) {
    super(`node ${nodeId} is at version ${actual}, not ${expected}: re-read it and try again`);
  }
  static fromDetails(d: Details): VersionConflictError {
    return new VersionConflictError(d.nodeId, d.expected, d.actual);
  }
  override details() {
    return { nodeId: this.nodeId, expected: this.expected, actual: this.actual };
  }
}

/** Thrown when removing a node that still has children, without cascade. */
export class HasChildrenError extends VmflowError {
  override readonly name = 'HasChildrenError';
  override readonly code = 'HAS_CHILDREN';
  constructor(readonly nodeId: string, readonly childCount: number) {
    super(`node ${nodeId} still has ${childCount} child node(s); remove them first or cascade`);
  }
  static fromDetails(d: Details): HasChildrenError {
    return new HasChildrenError(d.nodeId, d.childCount);
  }
  override details() {
    return { nodeId: this.nodeId, childCount: this.childCount };
  }
}

/** Thrown when no host can take a container; `reasons` counts rejected hosts per reason. */
export class NoCapacityError extends VmflowError {
  override readonly name = 'NoCapacityError';
  override readonly code = 'NO_CAPACITY';
  constructor(
    readonly container: string,
    readonly reasons: Readonly<Record<string, number>>,
    readonly hostId?: string,
    /** The host's name, for the message; the id alone is not something a person recognises. */
    readonly hostName?: string,
  ) {
    super(
      `no capacity for ${container}${hostName || hostId ? ` on ${hostName ?? hostId}` : ''}: ` +
        (Object.keys(reasons).length
          ? Object.entries(reasons)
              .sort((a, b) => b[1] - a[1])
              .map(([r, n]) => `${n} ${n === 1 ? 'host' : 'hosts'} ${r}`)
              .join(', ')
          : 'no hosts registered'),
    );
  }
  static fromDetails(d: Details): NoCapacityError {
    return new NoCapacityError(d.container, d.reasons ?? {}, d.hostId, d.hostName);
  }
  override details() {
    return { container: this.container, reasons: this.reasons, hostId: this.hostId, ...(this.hostName ? { hostName: this.hostName } : {}) };
  }
}

/** Thrown when a command cannot apply to a node in its current state. */
export class InvalidTransitionError extends VmflowError {
  override readonly name = 'InvalidTransitionError';
  override readonly code = 'INVALID_TRANSITION';
  constructor(readonly command: string, readonly target: string, readonly state: string, readonly reason?: string) {
    super(`cannot ${command} ${target}: ${reason ?? `it is ${state}`}`);
  }
  static fromDetails(d: Details): InvalidTransitionError {
    return new InvalidTransitionError(d.command, d.target, d.state, d.reason);
  }
  override details() {
    return { command: this.command, target: this.target, state: this.state, reason: this.reason };
  }
}

/** Thrown when a hypervisor refuses an operation; keeps the driver's own message. */
export class DriverError extends VmflowError {
  override readonly name = 'DriverError';
  override readonly code = 'DRIVER_ERROR';
  override readonly permanent: boolean;
  constructor(
    readonly driver: string,
    readonly operation: string,
    readonly host: string,
    readonly driverMessage: string,
    permanent = true,
  ) {
    super(`${driver} ${operation} on ${host} failed: ${driverMessage}`);
    this.permanent = permanent;
  }
  static fromDetails(d: Details): DriverError {
    return new DriverError(d.driver, d.operation, d.host, d.driverMessage);
  }
  override details() {
    return { driver: this.driver, operation: this.operation, host: this.host, driverMessage: this.driverMessage };
  }
}

/** Thrown when a host answers but has no VM by that name (or only one with another uuid). */
export class VmMissingError extends VmflowError {
  override readonly name = 'VmMissingError';
  override readonly code = 'VM_MISSING';
  constructor(readonly host: string, readonly container: string, readonly detail?: string) {
    super(`${container} is not on ${host}${detail ? `: ${detail}` : ''}; the monitor will look for it, or reconcile it`);
  }
  static fromDetails(d: Details): VmMissingError {
    return new VmMissingError(d.host, d.container, d.detail);
  }
  override details() {
    return { host: this.host, container: this.container, detail: this.detail };
  }
}

/**
 * Thrown by a command whose undo could not finish: the container is left `unknown` (never in a
 * place the registry has not verified) until the monitor or a `reconcile` settles it.
 */
export class UndoIncompleteError extends VmflowError {
  override readonly name = 'UndoIncompleteError';
  override readonly code = 'UNDO_INCOMPLETE';
  constructor(
    readonly command: string,
    readonly container: string,
    readonly failure: string,
    readonly undo: string,
    readonly undoError: string,
    readonly state = 'unknown',
  ) {
    super(`${command} ${container} failed (${failure}) and its undo "${undo}" could not finish (${undoError}); ${container} is ${state} until the monitor or a reconcile settles it`);
  }
  static fromDetails(d: Details): UndoIncompleteError {
    return new UndoIncompleteError(d.command, d.container, d.failure, d.undo, d.undoError, d.state);
  }
  override details() {
    return { command: this.command, container: this.container, failure: this.failure, undo: this.undo, undoError: this.undoError, state: this.state };
  }
}

/** Thrown when a host does not answer; transient, so Temporal retries it. */
export class HostUnreachableError extends VmflowError {
  override readonly name = 'HostUnreachableError';
  override readonly code = 'HOST_UNREACHABLE';
  override readonly permanent = false;
  constructor(readonly host: string, readonly reason?: string) {
    super(`host ${host} is unreachable${reason ? `: ${reason}` : ''}`);
  }
  static fromDetails(d: Details): HostUnreachableError {
    return new HostUnreachableError(d.host, d.reason);
  }
  override details() {
    return { host: this.host, reason: this.reason };
  }
}

/** Thrown when an environment hook denies a command. */
export class DeniedError extends VmflowError {
  override readonly name = 'DeniedError';
  override readonly code = 'DENIED';
  constructor(readonly by: string, readonly reason: string) {
    super(`denied by ${by}: ${reason}`);
  }
  static fromDetails(d: Details): DeniedError {
    return new DeniedError(d.by, d.reason);
  }
  override details() {
    return { by: this.by, reason: this.reason };
  }
}

/** Thrown when a request has no valid credentials. */
export class UnauthenticatedError extends VmflowError {
  override readonly name = 'UnauthenticatedError';
  override readonly code = 'UNAUTHENTICATED';
  constructor(reason = 'a valid bearer token is required') {
    super(reason);
  }
  static fromDetails(_d: Details, message: string): UnauthenticatedError {
    return new UnauthenticatedError(message);
  }
}

/** Thrown when the credentials lack the role a request needs. */
export class ForbiddenError extends VmflowError {
  override readonly name = 'ForbiddenError';
  override readonly code = 'FORBIDDEN';
  constructor(readonly role: string, readonly needed: string) {
    super(`role ${role} may not do this; it needs ${needed}`);
  }
  static fromDetails(d: Details): ForbiddenError {
    return new ForbiddenError(d.role, d.needed);
  }
  override details() {
    return { role: this.role, needed: this.needed };
  }
}

/** Thrown by a command handle's result() when the command was cancelled (and compensated). */
export class CancelledError extends VmflowError {
  override readonly name = 'CancelledError';
  override readonly code = 'CANCELLED';
  constructor(readonly commandId: string) {
    super(`command ${commandId} was cancelled; what it had done was undone`);
  }
  static fromDetails(d: Details): CancelledError {
    return new CancelledError(d.commandId);
  }
  override details() {
    return { commandId: this.commandId };
  }
}
/**
 * Every error that crosses the Temporal boundary, keyed on its stable `name`: the key must be the
 * class's `name` (the compiler checks), and `fromDetails` rebuilds it from what `details()` sent.
 */
const BY_NAME = byName({
  InvalidInputError,
  NotFoundError,
  KeyConflictError,
  VersionConflictError,
  HasChildrenError,
  NoCapacityError,
  InvalidTransitionError,
  DriverError,
  HostUnreachableError,
  VmMissingError,
  UndoIncompleteError,
  DeniedError,
  UnauthenticatedError,
  ForbiddenError,
  CancelledError,
});

interface Rebuildable {
  fromDetails(details: Details, message: string): VmflowError;
}

function byName<T extends { [K in keyof T]: Rebuildable & { readonly prototype: { readonly name: K } } }>(classes: T): Readonly<Record<string, Rebuildable>> {
  return classes;
}

/**
 * How a vmflow error leaves an activity or a workflow: an ApplicationFailure of the same name
 * with its fields as details, non-retryable when the error is permanent. Anything else is
 * returned as it is. The worker's interceptors apply it (activities/interceptors.ts,
 * workflows/interceptors.ts).
 */
export function toFailure(err: unknown): unknown {
  if (!(err instanceof VmflowError)) return err;
  const failure = ApplicationFailure.create({ type: err.name, message: err.message, details: [err.details()], nonRetryable: err.permanent });
  failure.stack = err.stack;
  return failure;
}

/**
 * Finds the vmflow error inside whatever Temporal wrapped it in (activity failure, child workflow
 * failure, workflow failed error) and rebuilds it; returns undefined when there is none.
 */
export function fromFailure(err: unknown): VmflowError | undefined {
  let e: any = err;
  for (let depth = 0; e && depth < 8; depth++) {
    if (e instanceof VmflowError) return e;
    if (e instanceof ApplicationFailure || e?.name === 'ApplicationFailure') {
      const known = typeof e.type === 'string' && Object.hasOwn(BY_NAME, e.type) ? BY_NAME[e.type] : undefined;
      if (known) return known.fromDetails((e.details?.[0] ?? {}) as Details, e.message);
    }
    e = e.cause;
  }
  return undefined;
}

/**
 * Like fromFailure, but always returns an Error, for callers that rethrow: the vmflow error when
 * there is one, else the innermost application failure (its message says what went wrong), else
 * the error itself.
 */
export function unwrapError(err: unknown): Error {
  const known = fromFailure(err);
  if (known) return known;
  let innermost: Error | undefined;
  for (let e: any = err, depth = 0; e && depth < 8; e = e.cause, depth++) {
    if (e instanceof ApplicationFailure || e?.name === 'ApplicationFailure') innermost = e;
  }
  return innermost ?? (err instanceof Error ? err : new Error(String(err)));
}
