// Compiles the request schemas of src/domain/schemas.ts with ajv; their errors read as the
// FieldProblems of src/domain/schema-problems.ts: `capacity.memoryMiB must be an integer from 1 to ...`.
import Ajv, { type ValidateFunction } from 'ajv';
import type { FieldProblem } from '../domain/errors';
import { schemaProblems } from '../domain/schema-problems';
import { PROVISIONED_TYPES, requestSchemas, type ProvisionedType } from '../domain/schemas';

const ajv = new Ajv({ allErrors: true, verbose: true, strict: true, allowUnionTypes: true });
// `problem` is an annotation: the sentence to report when a value fails its schema.
ajv.addVocabulary(['problem']);

const compiled = new Map<string, ValidateFunction>();

/** The validator of `type`, its containers limited to `kinds` when given; compiled once per kind list. */
function validatorFor(type: ProvisionedType, kinds?: readonly string[]): ValidateFunction {
  const id = `${type}\u0000${kinds?.join(',') ?? '*'}`;
  let v = compiled.get(id);
  if (!v) {
    v = ajv.compile(requestSchemas(kinds)[type]);
    compiled.set(id, v);
  }
  return v;
}

export function isProvisionedType(type: unknown): type is ProvisionedType {
  return typeof type === 'string' && (PROVISIONED_TYPES as readonly string[]).includes(type);
}

/**
 * Every problem of a provisioning request, or [] when it is valid. Field names are paths inside
 * the request, except that the definition's own fields go without `definition.` (`cpus`).
 */
export function requestProblems(type: unknown, input: unknown, kinds?: readonly string[]): FieldProblem[] {
  if (!isProvisionedType(type)) return [{ field: 'type', problem: `must be one of ${PROVISIONED_TYPES.join(', ')}` }];
  const validate = validatorFor(type, kinds);
  if (validate(input)) return [];
  return schemaProblems(validate.errors ?? [], { flattenDefinition: true });
}
