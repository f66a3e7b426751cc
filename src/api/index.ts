// The REST API: Fastify with TypeBox schemas that validate every request and generate the OpenAPI
// document, bearer-token roles on every route, one error shape, Prometheus metrics.
import Ajv from 'ajv';
import Fastify, { type FastifyBaseLogger, type FastifyInstance, type FastifyReply } from 'fastify';
import swagger from '@fastify/swagger';
import { allows, ROLES, TokenAuthenticator, type Access, type Authenticator, type Role, type TokenStore } from '../auth';
import type { VmflowService } from '../service';
import { ForbiddenError } from '../domain/errors';
import { commandLogger, createLogger, type Logger } from '../log';
import { ApiMetrics } from '../metrics';
import { ApiContext, type ApiConfig } from './context';
import { PROBLEM_CONTENT_TYPE, problem, toHttpError } from './errors';
import { IdempotencyStore, useIdempotency } from './idempotency';
import { agentRoutes } from './routes/agents';
import { clusterRoutes } from './routes/cluster';
import { commandRoutes } from './routes/commands';
import { containerRoutes } from './routes/containers';
import type { DashboardSource } from '../dashboard/bundle';
import { dashboardRoutes } from './routes/dashboard';
import { environmentRoutes } from './routes/environments';
import { eventRoutes } from './routes/events';
import { fileRoutes } from './routes/files';
import { hypervisorRoutes } from './routes/hypervisors';
import { keyRoutes } from './routes/keys';
import { sessionRoutes } from './routes/session';
import { submissionRoutes } from './routes/submissions';
import { systemRoutes } from './routes/system';
import { tokenRoutes } from './routes/tokens';
import { upstreamRoutes } from './routes/upstreams';

export { STATUS_OF_CODE, toHttpError } from './errors';
export type { ApiConfig } from './context';
export type { DashboardSource } from '../dashboard/bundle';

export interface ApiOptions {
  readonly client: VmflowService;
  /** The token store: checks bearer tokens and serves /v1/tokens. */
  readonly auth: TokenStore;
  readonly config: ApiConfig;
  /** Defaults to a JSON logger at `info` on stdout. */
  readonly logger?: Logger;
  readonly metrics?: ApiMetrics;
  /** Replaces the token check (tests); defaults to the store with config.apiAnonymousRole. */
  readonly authenticator?: Authenticator;
  /** The built dashboard served at `/` (src/dashboard/bundle.ts); without it `/` is not served. */
  readonly dashboard?: DashboardSource;
  /** Where Idempotency-Key answers are kept; opened on config.registryUrl when not given. */
  readonly idempotency?: IdempotencyStore;
}

const VERSION: string = require('../../package.json').version;
const COMMAND_URL = /^\/v1\/commands\/(container|environment)\/([^/?#]+)\/([^/?#]+)\/([^/?#]+)/;

/** Request bodies are validated without coercion (a string is not a number); query and path parts are coerced from text. */
function validators() {
  const body = new Ajv({ allErrors: true, verbose: true, strict: false, coerceTypes: false, useDefaults: false, removeAdditional: false });
  const text = new Ajv({ allErrors: true, verbose: true, strict: false, coerceTypes: true, useDefaults: true, removeAdditional: false });
  return ({ schema, httpPart }: { schema: object; httpPart?: string }) => (httpPart === 'body' ? body : text).compile(schema);
}

/** Parses JSON bodies; an empty body is no body, and prototype keys are refused. */
function parseJson(text: string): unknown {
  if (text.trim() === '') return undefined;
  return JSON.parse(text, (key, value) => {
    if (key === '__proto__' || key === 'constructor') throw Object.assign(new Error(`the body may not contain a "${key}" key`), { statusCode: 400, code: 'FST_ERR_CTP_INVALID_JSON_BODY' });
    return value;
  });
}

export async function buildApi(options: ApiOptions): Promise<FastifyInstance> {
  const { client, config } = options;
  const log = options.logger ?? createLogger({ name: 'vmflow-api' });
  const metrics = options.metrics ?? new ApiMetrics({ registry: client.registry });
  const anonymous = config.apiAnonymousRole && config.apiAnonymousRole !== 'none' ? (config.apiAnonymousRole as Role) : undefined;
  const authenticator = options.authenticator ?? new TokenAuthenticator(options.auth, anonymous);
  const ctx = new ApiContext(client, options.auth, config, metrics, log);
  const counters = { requests: 0, serverErrors: 0 };

  const idempotency = options.idempotency ?? (await IdempotencyStore.open(config.registryUrl));

  const app: FastifyInstance = Fastify({
    loggerInstance: log as FastifyBaseLogger,
    bodyLimit: Math.floor(config.apiBodyLimit),
    exposeHeadRoutes: false,
    routerOptions: { maxParamLength: 512 },
    // Every line about a command carries its ids, the framework's own request lines included.
    childLoggerFactory: (logger, bindings, options, rawRequest) => {
      const child = logger.child(bindings, options);
      const m = COMMAND_URL.exec((rawRequest as { url?: string }).url ?? '');
      return m ? commandLogger(child, { commandId: m[4]!, workflowId: `${m[1]}/${m[2]}/${m[3]}/${m[4]}` }) : child;
    },
    // Errors the router raises before any route runs (a bad URL encoding, a path segment too long).
    frameworkErrors: (err, request, reply) => {
      const answer = toHttpError(err);
      (reply as unknown as FastifyReply).status(answer.status).type(PROBLEM_CONTENT_TYPE).send(problem(answer, pathOf(request.url)));
    },
  });
  app.setValidatorCompiler(validators());
  useIdempotency(app, idempotency);

  // JSON only: any other media type is refused with 415.
  app.removeContentTypeParser(['application/json', 'text/plain']);
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_req, body, done) => {
    try {
      done(null, parseJson(body as string));
    } catch (err) {
      const e = err as Error & { statusCode?: number; code?: string };
      done(Object.assign(e, { statusCode: 400, code: e.code ?? 'FST_ERR_CTP_INVALID_JSON_BODY', message: `the body is not valid JSON: ${e.message}` }), undefined);
    }
  });

  // Every route declares the role it needs; a route without one is a programming error.
  const routes: RouteInfo[] = [];
  ROUTES.set(app, routes);
  app.addHook('onRoute', (route) => {
    const role = route.config?.role;
    if (role !== 'public' && !ROLES.includes(role as Role)) throw new Error(`route ${route.method} ${route.url} declares no role`);
    for (const method of [route.method].flat()) routes.push({ method, url: route.url, role: role as Access });
  });

  app.addHook('onRequest', async (request) => {
    const needed = request.routeOptions.config?.role;
    if (!needed || needed === 'public') return;
    const principal = await authenticator.authenticate(request.headers.authorization);
    // Known before the role is checked, so that a refused request is counted under its token too.
    request.principal = principal;
    if (!allows(principal.role, needed)) throw new ForbiddenError(principal.role, needed);
  });

  app.addHook('onResponse', async (request, reply) => {
    counters.requests++;
    if (reply.statusCode >= 500) counters.serverErrors++;
    metrics.observeRequest(request.method, request.routeOptions.url ?? 'unmatched', reply.statusCode, reply.elapsedTime / 1000, request.principal?.name);
  });

  app.setErrorHandler(async (err, request, reply) => {
    const answer = toHttpError(err, config.apiBodyLimit);
    const { status, body } = answer;
    if (status >= 500) request.log.error({ err }, 'request failed');
    else request.log.info({ code: body.error.code, status }, body.error.message);
    reply.status(status).type(PROBLEM_CONTENT_TYPE);
    return problem(answer, pathOf(request.url));
  });

  app.setNotFoundHandler(async (request, reply) => {
    reply.status(404).type(PROBLEM_CONTENT_TYPE);
    const path = pathOf(request.url);
    return problem({ status: 404, body: { error: { code: 'NOT_FOUND', message: `no route ${request.method} ${path}`, details: { method: request.method } } } }, path);
  });

  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'vmflow',
        version: VERSION,
        description:
          'Cluster controller for hypervisors and their VMs. Every command is a Temporal workflow: it answers 202 with the workflow id; follow it at /v1/commands/<workflowId>. ' +
          'Errors are RFC 9457 problem details (application/problem+json: type, title, status, detail, instance) with vmflow\'s code and details, also as { error: { code, message, details } }. ' +
          'A POST that starts a command takes an Idempotency-Key header: the same key with the same body answers the first 202 again. Send "Authorization: Bearer <token>"; each operation says the role it needs (viewer < operator < admin).',
      },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'a vmflow API token: vmflow tokens create --role <role> --name <name>' } } },
      security: [{ bearer: [] }],
      tags: [
        { name: 'hypervisors', description: 'hosts that run containers' },
        { name: 'containers', description: 'VMs and containers, and their commands' },
        { name: 'environments', description: 'groups of containers that work together' },
        { name: 'commands', description: 'commands as workflows: progress, cancel, modify' },
        { name: 'keys', description: 'unique keys and their owners' },
        { name: 'agents', description: 'what the monitor knows of each host' },
        { name: 'tokens', description: 'API tokens' },
        { name: 'system', description: 'health, metrics, OpenAPI, controller information' },
      ],
    },
  });

  hypervisorRoutes(app, ctx);
  containerRoutes(app, ctx);
  environmentRoutes(app, ctx);
  submissionRoutes(app, ctx);
  commandRoutes(app, ctx);
  keyRoutes(app, ctx);
  agentRoutes(app, ctx);
  tokenRoutes(app, ctx);
  systemRoutes(app, ctx, counters);
  clusterRoutes(app, ctx);
  eventRoutes(app, ctx);
  upstreamRoutes(app, ctx);
  fileRoutes(app, ctx);
  sessionRoutes(app, ctx);
  if (options.dashboard) dashboardRoutes(app, options.dashboard);

  app.addHook('onClose', async () => {
    if (!options.idempotency) await idempotency.close();
  });
  await app.ready();
  return app;
}

/** A request URL without its query: the problem's `instance`. */
function pathOf(url: string): string {
  return url.split('?')[0]!;
}

export interface RouteInfo {
  readonly method: string;
  readonly url: string;
  readonly role: Access;
}

const ROUTES = new WeakMap<FastifyInstance, RouteInfo[]>();

/** Every route the API registered, with the role it needs, as Fastify saw them (for tests and docs). */
export function routeTable(app: FastifyInstance): readonly RouteInfo[] {
  return ROUTES.get(app) ?? [];
}
