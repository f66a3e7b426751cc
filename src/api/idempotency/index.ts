// `Idempotency-Key` on the POSTs (and DELETEs) that start commands: the first request with a key
// is answered and its answer kept; the same request again with the same key gets that answer
// again (the same 202, the same command id) and starts nothing; another request with the key is
// refused with 422 naming the key. Keys are per token and kept for a day (./store.ts says where
// and why).
import { createHash } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { InvalidInputError } from '../../domain/errors';
import { RequestProblem } from '../errors';
import type { IdempotencyStore } from './store';

export { IdempotencyStore, KEY_TTL_MS } from './store';

export const IDEMPOTENCY_HEADER = 'idempotency-key';
const KEY = /^[\x21-\x7e]{1,255}$/;

const STORES = new WeakMap<FastifyInstance, IdempotencyStore>();

export function useIdempotency(app: FastifyInstance, store: IdempotencyStore): void {
  STORES.set(app, store);
}

/** JSON with object keys sorted: two bodies that mean the same have one fingerprint. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value && typeof value === 'object')
    return `{${Object.keys(value)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical((value as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  return JSON.stringify(value ?? null);
}

type Handler = (request: FastifyRequest, reply: FastifyReply) => Promise<unknown>;

/** Wraps the handler of a route that starts a command so that it honours Idempotency-Key. */
export function idempotent(app: FastifyInstance, handler: Handler): Handler {
  return async (request, reply) => {
    const header = request.headers[IDEMPOTENCY_HEADER];
    const store = STORES.get(app);
    if (header === undefined || !store) return handler(request, reply);
    const key = Array.isArray(header) ? header[0]! : header;
    if (Array.isArray(header) || !KEY.test(key)) throw new InvalidInputError([{ field: 'header.Idempotency-Key', problem: 'must be one value of 1 to 255 visible ASCII characters' }], 'request');
    const scope = request.principal?.id ?? 'anonymous';
    const what = `${request.method} ${request.url.split('?')[0]}`;
    const fingerprint = createHash('sha256').update(`${request.method} ${request.url}\n${canonical(request.body)}`).digest('hex');
    const claim = await store.claim(scope, key, fingerprint, what);
    if (claim.kind === 'mismatch')
      throw new RequestProblem(422, 'IDEMPOTENCY_KEY_REUSED', `Idempotency-Key ${key} was first sent with another request (${claim.request}); send a new key for a new request`, { key, firstRequest: claim.request });
    if (claim.kind === 'in-progress')
      throw new RequestProblem(409, 'IDEMPOTENCY_KEY_IN_USE', `the first request with Idempotency-Key ${key} (${claim.request}) is still being answered; send it again in a moment`, { key, firstRequest: claim.request });
    if (claim.kind === 'replay') {
      reply.status(claim.answer.status).headers({ ...claim.answer.headers, 'idempotent-replayed': 'true' });
      return claim.answer.body;
    }
    let body: unknown;
    try {
      body = await handler(request, reply);
    } catch (err) {
      await store.release(scope, key).catch(() => undefined);
      throw err;
    }
    const location = reply.getHeader('location');
    await store.answered(scope, key, { status: reply.statusCode, headers: typeof location === 'string' ? { location } : {}, body });
    return body;
  };
}
