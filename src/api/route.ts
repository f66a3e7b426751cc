// Declaring a route: every route names the role it needs (checked by the auth hook, listed in
// the OpenAPI document), and gets the shared error responses. Its handler sees params, query and
// body with the types of their schemas (the TypeBox type provider), so it needs no casts.
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { TSchema, TUnknown } from '@sinclair/typebox';
import type { FastifyInstance, FastifyReply, FastifyRequest, HTTPMethods, RawRequestDefaultExpression, RawServerDefault, RouteGenericInterface } from 'fastify';
import type { Access, Principal } from '../auth';
import { Type } from '@sinclair/typebox';
import { PROBLEM_CONTENT_TYPE } from './errors';
import { idempotent } from './idempotency';
import { ErrorResponse } from './schemas';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The role a route needs; every route declares one. */
    role?: Access;
  }
  interface FastifyRequest {
    principal?: Principal;
  }
}

/** A request whose params, query and body have the types of the route's schemas. */
export type TypedRequest<P extends TSchema = TUnknown, Q extends TSchema = TUnknown, B extends TSchema = TUnknown> = FastifyRequest<
  RouteGenericInterface,
  RawServerDefault,
  RawRequestDefaultExpression,
  { params: P; querystring: Q; body: B },
  TypeBoxTypeProvider
>;

export interface RouteSpec<P extends TSchema = TUnknown, Q extends TSchema = TUnknown, B extends TSchema = TUnknown> {
  readonly method: HTTPMethods;
  readonly url: string;
  readonly role: Access;
  readonly summary: string;
  readonly tag: string;
  readonly params?: P;
  readonly querystring?: Q;
  readonly body?: B;
  /** Success responses by status. */
  readonly response: Record<number, TSchema>;
  /** It starts a command: it takes an Idempotency-Key header (./idempotency). */
  readonly startsCommand?: boolean;
  /**
   * The handler answers exactly the response schema's fields (a presenter builds them), so
   * JSON.stringify writes the answer: the serializer compiled from the schema took about half a
   * millisecond more on a page of 100 containers. The schema still documents it.
   */
  readonly presented?: boolean;
  readonly handler: (request: TypedRequest<P, Q, B>, reply: FastifyReply) => Promise<unknown>;
}

type Handler = (request: FastifyRequest, reply: FastifyReply) => Promise<unknown>;

const IdempotencyHeaders = Type.Object({
  'idempotency-key': Type.Optional(
    Type.String({
      description: 'any unique string (a UUID) of 1 to 255 visible ASCII characters: the same request sent again with it gets the first answer again and starts nothing; another request with it is refused (422). Kept per token for 24 hours',
    }),
  ),
});

const ERRORS_OF_PUBLIC = [400, 404, 500];
const ERRORS = [400, 401, 403, 404, 409, 413, 415, 422, 500];

export function route<P extends TSchema = TUnknown, Q extends TSchema = TUnknown, B extends TSchema = TUnknown>(app: FastifyInstance, spec: RouteSpec<P, Q, B>): void {
  const errors = Object.fromEntries(
    (spec.role === 'public' ? ERRORS_OF_PUBLIC : ERRORS).map((s) => [s, { description: ErrorResponse.description, content: { [PROBLEM_CONTENT_TYPE]: { schema: ErrorResponse } } }]),
  );
  app.route({
    method: spec.method,
    url: spec.url,
    config: { role: spec.role },
    schema: {
      summary: spec.summary,
      description: spec.role === 'public' ? 'No token needed.' : `Needs role ${spec.role} or higher.`,
      tags: [spec.tag],
      ...(spec.params ? { params: spec.params } : {}),
      ...(spec.querystring ? { querystring: spec.querystring } : {}),
      ...(spec.body ? { body: spec.body } : {}),
      ...(spec.startsCommand ? { headers: IdempotencyHeaders } : {}),
      response: { ...errors, ...spec.response },
      security: spec.role === 'public' ? [] : [{ bearer: [] }],
      'x-vmflow-role': spec.role,
    },
    ...(spec.presented ? { serializerCompiler: () => (data: unknown) => JSON.stringify(data) } : {}),
    // A route with a body schema takes no body as `{}`, so its schema still refuses unknown fields.
    ...(spec.body
      ? {
          preValidation: async (request: FastifyRequest) => {
            if (request.body === undefined) request.body = {};
          },
        }
      : {}),
    // The schemas registered above are P, Q and B, so the request is a TypedRequest<P, Q, B>;
    // Fastify cannot infer that through the parts left out, hence the one widening here.
    handler: spec.startsCommand ? idempotent(app, spec.handler as Handler) : (spec.handler as Handler),
  });
}
