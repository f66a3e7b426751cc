// Shape checks the registry makes before touching the database. The provisioner validates
// definitions against their schemas; the registry only guards what its own consistency needs.
import type { FieldProblem } from '../domain/errors';
import { NODE_TYPES, type JsonObject } from '../domain/types';
import type { NewNode, NodePatch } from './types';

/** Serialized metadata may not exceed this many bytes (UTF-8). */
export const METADATA_LIMIT_BYTES = 64 * 1024;
export const MAX_NAME_LENGTH = 255;
export const MAX_KEY_LENGTH = 255;
export const MAX_TAG_LENGTH = 255;
export const MAX_STATE_LENGTH = 64;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const KEY = /^[A-Za-z0-9_.-]+:.+$/;
/** `namespace.key`: a namespace of word characters, a dot, then anything without spaces. */
const METADATA_KEY = /^[A-Za-z0-9_-]+\.\S+$/;
const NAME_PREFIX = 'name:';

export function isPlainObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function checkId(id: unknown, field: string, out: FieldProblem[]): void {
  if (typeof id !== 'string' || !UUID.test(id)) out.push({ field, problem: 'must be a UUID' });
}

export function checkName(name: unknown, field: string, out: FieldProblem[]): void {
  if (typeof name !== 'string' || name.length === 0) out.push({ field, problem: 'must be a non-empty string' });
  else if (name.length > MAX_NAME_LENGTH) out.push({ field, problem: `must be at most ${MAX_NAME_LENGTH} characters` });
}

export function checkState(state: unknown, field: string, out: FieldProblem[]): void {
  if (typeof state !== 'string' || state.length === 0) out.push({ field, problem: 'must be a non-empty string' });
  else if (state.length > MAX_STATE_LENGTH) out.push({ field, problem: `must be at most ${MAX_STATE_LENGTH} characters` });
}

export function checkKeys(keys: unknown, field: string, out: FieldProblem[]): void {
  if (!Array.isArray(keys)) {
    out.push({ field, problem: 'must be an array of strings' });
    return;
  }
  keys.forEach((key, i) => {
    const f = `${field}[${i}]`;
    if (typeof key !== 'string' || !KEY.test(key)) out.push({ field: f, problem: 'must look like <kind>:<value>' });
    else if (key.length > MAX_KEY_LENGTH) out.push({ field: f, problem: `must be at most ${MAX_KEY_LENGTH} characters` });
    else if (key.startsWith(NAME_PREFIX))
      out.push({ field: f, problem: `is reserved: the registry derives ${NAME_PREFIX}<name> from the node's name` });
  });
}

export function checkTags(tags: unknown, field: string, out: FieldProblem[]): void {
  if (!isPlainObject(tags)) {
    out.push({ field, problem: 'must be an object of strings' });
    return;
  }
  for (const [k, v] of Object.entries(tags)) {
    if (k.length === 0 || k.length > MAX_TAG_LENGTH)
      out.push({ field: `${field}.${k}`, problem: `key must be 1 to ${MAX_TAG_LENGTH} characters` });
    if (typeof v !== 'string') out.push({ field: `${field}.${k}`, problem: 'must be a string' });
    else if (v.length > MAX_TAG_LENGTH) out.push({ field: `${field}.${k}`, problem: `must be at most ${MAX_TAG_LENGTH} characters` });
  }
}

/** Checks the keys of a metadata patch: every key namespaced (`something.key`). */
export function checkMetadataKeys(metadata: unknown, field: string, out: FieldProblem[]): void {
  if (!isPlainObject(metadata)) {
    out.push({ field, problem: 'must be an object' });
    return;
  }
  for (const key of Object.keys(metadata)) {
    if (!METADATA_KEY.test(key)) out.push({ field: `${field}.${key}`, problem: 'must be namespaced, like vmflow.load' });
  }
}

export function checkMetadataSize(serialized: string, field: string, out: FieldProblem[]): void {
  const bytes = Buffer.byteLength(serialized, 'utf8');
  if (bytes > METADATA_LIMIT_BYTES)
    out.push({ field, problem: `is ${bytes} bytes serialized, over the limit of ${METADATA_LIMIT_BYTES}` });
}

/** Applies a metadata patch: keys set to null are deleted, others replaced. */
export function mergeMetadata(stored: JsonObject, patch: JsonObject): JsonObject {
  const merged: JsonObject = { ...stored };
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete merged[k];
    else merged[k] = v;
  }
  return merged;
}

export function checkNewNode(node: NewNode): FieldProblem[] {
  const out: FieldProblem[] = [];
  if (!isPlainObject(node)) return [{ field: 'node', problem: 'must be an object' }];
  if (node.id !== undefined) checkId(node.id, 'id', out);
  if (!NODE_TYPES.includes(node.type)) out.push({ field: 'type', problem: `must be one of ${NODE_TYPES.join(', ')}` });
  checkName(node.name, 'name', out);
  if (!isPlainObject(node.definition)) out.push({ field: 'definition', problem: 'must be an object' });
  checkState(node.state, 'state', out);
  if (node.metadata !== undefined) {
    checkMetadataKeys(node.metadata, 'metadata', out);
    if (isPlainObject(node.metadata)) checkMetadataSize(JSON.stringify(dropNulls(node.metadata)), 'metadata', out);
  }
  if (node.tags !== undefined) checkTags(node.tags, 'tags', out);
  if (node.parentId !== undefined && node.parentId !== null) checkId(node.parentId, 'parentId', out);
  if (node.keys !== undefined) checkKeys(node.keys, 'keys', out);
  return out;
}

export function checkPatch(patch: NodePatch): FieldProblem[] {
  const out: FieldProblem[] = [];
  if (!isPlainObject(patch)) return [{ field: 'patch', problem: 'must be an object' }];
  if (patch.definition !== undefined && !isPlainObject(patch.definition))
    out.push({ field: 'definition', problem: 'must be an object' });
  if (patch.state !== undefined) checkState(patch.state, 'state', out);
  if (patch.metadata !== undefined) checkMetadataKeys(patch.metadata, 'metadata', out);
  if (patch.tags !== undefined) checkTags(patch.tags, 'tags', out);
  return out;
}

export function dropNulls(metadata: JsonObject): JsonObject {
  return mergeMetadata({}, metadata);
}
