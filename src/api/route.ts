// Declaring a route: every route names the role it needs (checked by the auth hook, listed in
// the OpenAPI document), and gets the shared error responses.
import type { TSchema } from '@sinclair/typebox';
import type { FastifyInstance, FastifyReply, FastifyRequest, HTTPMethods } from 'fastify';
import type { Access, Principal } from '../auth';
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

export interface RouteSpec {
  readonly method: HTTPMethods;
  readonly url: string;
  readonly role: Access;
  readonly summary: string;
  readonly tag: string;
  readonly params?: TSchema;
  readonly querystring?: TSchema;
  readonly body?: TSchema;
  /** Success responses by status. */
  readonly response: Record<number, TSchema>;
  readonly handler: (request: FastifyRequest, reply: FastifyReply) => Promise<unknown>;
}

const ERRORS_OF_PUBLIC = [400, 404, 500];
const ERRORS = [400, 401, 403, 404, 409, 413, 415, 422, 500];

export function route(app: FastifyInstance, spec: RouteSpec): void {
  const errors = Object.fromEntries((spec.role === 'public' ? ERRORS_OF_PUBLIC : ERRORS).map((s) => [s, ErrorResponse]));
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
      response: { ...errors, ...spec.response },
      security: spec.role === 'public' ? [] : [{ bearer: [] }],
      'x-vmflow-role': spec.role,
    },
    // A route with a body schema takes no body as `{}`, so its schema still refuses unknown fields.
    ...(spec.body
      ? {
          preValidation: async (request: FastifyRequest) => {
            if (request.body === undefined) request.body = {};
          },
        }
      : {}),
    handler: spec.handler,
  });
}
