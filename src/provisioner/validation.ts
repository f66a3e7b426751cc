// Compiles the request schemas of src/domain/schemas.ts with ajv and turns its errors into
// FieldProblems a person can act on: `capacity.memoryMiB must be > 0`.
import Ajv, { type ErrorObject, type ValidateFunction } from 'ajv';
import type { FieldProblem } from '../domain/errors';
import { PROVISIONED_TYPES, REQUEST_SCHEMAS, type ProvisionedType } from '../domain/schemas';

const ajv = new Ajv({ allErrors: true, verbose: true, strict: true, allowUnionTypes: true });
// `problem` is an annotation: the sentence to report when a value fails its pattern.
ajv.addVocabulary(['problem']);

const compiled = new Map<ProvisionedType, ValidateFunction>();

function validatorFor(type: ProvisionedType): ValidateFunction {
  let v = compiled.get(type);
  if (!v) {
    v = ajv.compile(REQUEST_SCHEMAS[type]);
    compiled.set(type, v);
  }
  return v;
}

export function isProvisionedType(type: unknown): type is ProvisionedType {
  return typeof type === 'string' && (PROVISIONED_TYPES as readonly string[]).includes(type);
}

/** Every problem of a provisioning request, or [] when it is valid. */
export function requestProblems(type: unknown, input: unknown): FieldProblem[] {
  if (!isProvisionedType(type)) return [{ field: 'type', problem: `must be one of ${PROVISIONED_TYPES.join(', ')}` }];
  const validate = validatorFor(type);
  if (validate(input)) return [];
  const seen = new Set<string>();
  const problems: FieldProblem[] = [];
  for (const error of validate.errors ?? []) {
    const p = problemOf(error);
    const id = `${p.field}\u0000${p.problem}`;
    if (!seen.has(id)) {
      seen.add(id);
      problems.push(p);
    }
  }
  return problems;
}

/**
 * Field names are paths inside the request, except that the definition's own fields are named
 * without the `definition.` prefix (`capacity.memoryMiB`), as people write them.
 */
function fieldOf(instancePath: string, child?: string): string {
  const parts = instancePath
    .split('/')
    .slice(1)
    .map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'));
  if (child !== undefined) parts.push(child);
  if (parts[0] === 'definition' && parts.length > 1) parts.shift();
  return parts.length ? parts.join('.') : 'request';
}

function problemOf(e: ErrorObject): FieldProblem {
  const params = e.params as Record<string, unknown>;
  const annotation = (e.parentSchema as { problem?: unknown } | undefined)?.problem;
  switch (e.keyword) {
    case 'required':
      return { field: fieldOf(e.instancePath, String(params.missingProperty)), problem: 'is required' };
    case 'additionalProperties':
      return { field: fieldOf(e.instancePath, String(params.additionalProperty)), problem: 'is not a known field' };
    case 'type':
      return { field: fieldOf(e.instancePath), problem: `must be ${article(String(params.type))}` };
    case 'exclusiveMinimum':
      return { field: fieldOf(e.instancePath), problem: `must be > ${params.limit}` };
    case 'minimum':
      return { field: fieldOf(e.instancePath), problem: `must be >= ${params.limit}` };
    case 'exclusiveMaximum':
      return { field: fieldOf(e.instancePath), problem: `must be < ${params.limit}` };
    case 'maximum':
      return { field: fieldOf(e.instancePath), problem: `must be <= ${params.limit}` };
    case 'minLength':
      return { field: fieldOf(e.instancePath), problem: params.limit === 1 ? 'must not be empty' : `must be at least ${params.limit} characters` };
    case 'maxLength':
      return { field: fieldOf(e.instancePath), problem: `must be at most ${params.limit} characters` };
    case 'enum':
      return { field: fieldOf(e.instancePath), problem: `must be one of ${(params.allowedValues as unknown[]).join(', ')}` };
    case 'pattern':
      return { field: fieldOf(e.instancePath), problem: typeof annotation === 'string' ? annotation : `must match ${params.pattern}` };
    default:
      return { field: fieldOf(e.instancePath), problem: e.message ?? `fails ${e.keyword}` };
  }
}

function article(type: string): string {
  if (type === 'integer' || type === 'object' || type === 'array') return `an ${type}`;
  return `a ${type}`;
}
