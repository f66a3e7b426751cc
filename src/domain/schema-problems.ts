// The one translation of JSON Schema (ajv) errors into FieldProblems a person can act on:
// `cpus must be an integer from 1 to 1024`. The API and the provisioner both report through it, so
// the same bad value reads the same wherever it is refused. Pure: it reads ajv's error objects and
// needs no ajv at run time.
import type { FieldProblem } from './errors';

/** The parts of an ajv ErrorObject read here (ajv must run with `verbose: true` for parentSchema). */
export interface SchemaError {
  readonly keyword: string;
  readonly instancePath: string;
  readonly params: Record<string, unknown>;
  readonly message?: string;
  readonly parentSchema?: unknown;
}

export interface FieldNaming {
  /** Prefix of every field: `body` gives `body.definition.cpus`. */
  readonly root?: string;
  /** Name the definition's own fields without `definition.` (`cpus`), as people write them. */
  readonly flattenDefinition?: boolean;
}

/** `must be one of a, b, c`: also for checks made outside a schema. */
export function mustBeOneOf(values: readonly unknown[]): string {
  return `must be one of ${values.join(', ')}`;
}

/** Every distinct problem of `errors`, in ajv's order. */
export function schemaProblems(errors: readonly SchemaError[], naming: FieldNaming = {}): FieldProblem[] {
  const seen = new Set<string>();
  const out: FieldProblem[] = [];
  for (const e of errors) {
    const p = problemOf(e, naming);
    const id = `${p.field}\u0000${p.problem}`;
    if (!seen.has(id)) {
      seen.add(id);
      out.push(p);
    }
  }
  return out;
}

function fieldOf(instancePath: string, naming: FieldNaming, child?: string): string {
  const parts = instancePath
    .split('/')
    .slice(1)
    .map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'));
  if (child !== undefined) parts.push(child);
  if (naming.flattenDefinition && parts[0] === 'definition' && parts.length > 1) parts.shift();
  if (naming.root) parts.unshift(naming.root);
  return parts.length ? parts.join('.') : 'request';
}

/**
 * A schema may carry a `problem` annotation: the sentence reported when a value fails any check
 * of that schema (its type, bounds or pattern), so `cpus: 0.5` and `cpus: 1e308` read alike.
 */
function annotationOf(e: SchemaError): string | undefined {
  const problem = (e.parentSchema as { problem?: unknown } | undefined)?.problem;
  return typeof problem === 'string' ? problem : undefined;
}

function problemOf(e: SchemaError, naming: FieldNaming): FieldProblem {
  const params = e.params;
  if (e.keyword === 'required') return { field: fieldOf(e.instancePath, naming, String(params.missingProperty)), problem: 'is required' };
  if (e.keyword === 'additionalProperties') return { field: fieldOf(e.instancePath, naming, String(params.additionalProperty)), problem: 'is not a known field' };
  const field = fieldOf(e.instancePath, naming);
  const annotation = annotationOf(e);
  if (annotation) return { field, problem: annotation };
  switch (e.keyword) {
    case 'type':
      return { field, problem: `must be ${article(String(params.type))}` };
    case 'exclusiveMinimum':
      return { field, problem: `must be > ${params.limit}` };
    case 'minimum':
      return { field, problem: `must be >= ${params.limit}` };
    case 'exclusiveMaximum':
      return { field, problem: `must be < ${params.limit}` };
    case 'maximum':
      return { field, problem: `must be <= ${params.limit}` };
    case 'minLength':
      return { field, problem: params.limit === 1 ? 'must not be empty' : `must be at least ${params.limit} characters` };
    case 'maxLength':
      return { field, problem: `must be at most ${params.limit} characters` };
    case 'minProperties':
      return { field, problem: params.limit === 1 ? 'must not be empty' : `must have at least ${params.limit} fields` };
    case 'enum':
      return { field, problem: mustBeOneOf(params.allowedValues as unknown[]) };
    case 'pattern':
      return { field, problem: `must match ${params.pattern}` };
    case 'anyOf':
    case 'oneOf':
      return { field, problem: 'does not match any allowed shape' };
    default:
      return { field, problem: e.message ?? `fails ${e.keyword}` };
  }
}

function article(type: string): string {
  return `${/^[aeiou]/.test(type) ? 'an' : 'a'} ${type}`;
}
