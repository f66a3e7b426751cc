// The one place that turns errors into HTTP answers: every error is an RFC 9457 problem
// (application/problem+json: type, title, status, detail, instance) that also carries vmflow's
// `code` and `details`, and `{ error: { code, message, details } }` as before; vmflow error codes
// map to statuses here and nowhere else.
import type { FastifyError } from 'fastify';
import { VmflowError, fromFailure, type ErrorCode, type FieldProblem } from '../domain/errors';
import { schemaProblems, type SchemaError } from '../domain/schema-problems';

/** HTTP status of each vmflow error code. Bad input is always 4xx. */
export const STATUS_OF_CODE: Record<ErrorCode, number> = {
  INVALID_INPUT: 400,
  UNAUTHENTICATED: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  KEY_CONFLICT: 409,
  VERSION_CONFLICT: 409,
  HAS_CHILDREN: 409,
  INVALID_TRANSITION: 409,
  DENIED: 409,
  CANCELLED: 409,
  // The request was well formed; the cluster has no room for it.
  NO_CAPACITY: 422,
  // A host refused or did not answer: the server side failed, not the request.
  DRIVER_ERROR: 502,
  VM_MISSING: 409,
  UNDO_INCOMPLETE: 500,
  HOST_UNREACHABLE: 503,
  INTERNAL: 500,
};

export interface ErrorBody {
  readonly error: { readonly code: string; readonly message: string; readonly details: Record<string, unknown> };
}

/** The body every error answers with. */
export interface Problem extends ErrorBody {
  readonly type: string;
  readonly title: string;
  readonly status: number;
  readonly detail: string;
  readonly instance: string;
  readonly code: string;
  readonly details: Record<string, unknown>;
}

export interface HttpError {
  readonly status: number;
  readonly body: ErrorBody;
}

export const PROBLEM_CONTENT_TYPE = 'application/problem+json';

/** The title of each code: what every problem of that type is. */
const TITLES: Record<string, string> = {
  INVALID_INPUT: 'The request is not valid',
  UNAUTHENTICATED: 'No valid API token',
  FORBIDDEN: "The token's role does not allow it",
  NOT_FOUND: 'Not found',
  KEY_CONFLICT: 'A unique key is taken',
  VERSION_CONFLICT: 'Changed by someone else meanwhile',
  HAS_CHILDREN: 'It still has containers or claims',
  INVALID_TRANSITION: 'Not possible in its current state',
  DENIED: 'Denied by an environment hook',
  CANCELLED: 'Cancelled',
  NO_CAPACITY: 'No host has room for it',
  DRIVER_ERROR: 'A host refused or failed the operation',
  VM_MISSING: 'The VM is not where the registry says',
  UNDO_INCOMPLETE: 'A command could not undo what it did',
  HOST_UNREACHABLE: 'A host does not answer',
  IDEMPOTENCY_KEY_REUSED: 'The Idempotency-Key was used for another request',
  IDEMPOTENCY_KEY_IN_USE: 'The first request with this Idempotency-Key is still being answered',
  INTERNAL: 'Internal error',
};

/** The problem `type` of a code: `urn:vmflow:problem:no-capacity`. */
export function problemType(code: string): string {
  return `urn:vmflow:problem:${code.toLowerCase().replace(/_/g, '-')}`;
}

/** An error answer as an RFC 9457 problem, on the request path `instance`. */
export function problem(error: HttpError, instance: string): Problem {
  const { code, message, details } = error.body.error;
  return { type: problemType(code), title: TITLES[code] ?? code, status: error.status, detail: message, instance, code, details, error: error.body.error };
}

function body(code: string, message: string, details: Record<string, unknown> = {}): ErrorBody {
  return { error: { code, message, details } };
}

/** Fastify's own request errors (bad JSON, body too large, wrong media type) and their statuses. */
const FRAMEWORK: Record<string, { status: number; message?: (e: FastifyError) => string }> = {
  FST_ERR_CTP_BODY_TOO_LARGE: { status: 413, message: () => 'the request body is too large' },
  FST_ERR_CTP_INVALID_MEDIA_TYPE: { status: 415, message: (e) => `${e.message}; send application/json` },
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: { status: 400 },
  FST_ERR_CTP_EMPTY_JSON_BODY: { status: 400, message: () => 'the body is empty but content-type is application/json: send a JSON object or no content-type' },
  FST_ERR_CTP_INVALID_JSON_BODY: { status: 400 },
  FST_ERR_BAD_URL: { status: 400, message: () => 'the URL is not valid: a path part is not well percent-encoded' },
  FST_ERR_MAX_PARAM_LENGTH: { status: 414, message: () => 'a path part of the URL is too long' },
};

/** A problem with the request itself that no vmflow error code names (an Idempotency-Key reused). */
export class RequestProblem extends Error {
  override readonly name = 'RequestProblem';
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
  }
}

/** Maps any error to its status and body. Unknown errors are 500 with a generic message. */
export function toHttpError(err: unknown, bodyLimit?: number): HttpError {
  if (err instanceof RequestProblem) return { status: err.status, body: body(err.code, err.message, err.details) };
  const e = err as FastifyError & { validation?: SchemaError[]; validationContext?: string };
  if (e?.validation) {
    const problems = schemaProblems(e.validation, { root: e.validationContext ?? 'request' });
    return {
      status: 400,
      body: body('INVALID_INPUT', `invalid request: ${problems.map((p) => `${p.field} ${p.problem}`).join('; ')}`, { problems }),
    };
  }
  const known = err instanceof VmflowError ? err : fromFailure(err);
  if (known) return { status: STATUS_OF_CODE[known.code] ?? 500, body: body(known.code, known.message, known.details()) };
  if (e?.name === 'WorkflowNotFoundError') return { status: 404, body: body('NOT_FOUND', 'command not found', {}) };
  const framework = e?.code ? FRAMEWORK[e.code] : undefined;
  if (framework) {
    const message = e.code === 'FST_ERR_CTP_BODY_TOO_LARGE' && bodyLimit ? `the request body is larger than ${bodyLimit} bytes` : (framework.message?.(e) ?? e.message);
    return { status: framework.status, body: body('INVALID_INPUT', message, { reason: e.code }) };
  }
  // Any other framework error that already says it is the client's fault.
  if (typeof e?.statusCode === 'number' && e.statusCode >= 400 && e.statusCode < 500) {
    return { status: e.statusCode, body: body('INVALID_INPUT', e.message, { reason: e.code }) };
  }
  return { status: 500, body: body('INTERNAL', 'internal error; the server log has the details', {}) };
}

