// The farm's HTTP face, on Fastify.
//
//   GET    /hosts/:host                      host status (capacity, free, load, containers)
//   POST   /statuses                         many hosts' status at once: { hosts: [id...], timeoutMs? }
//                                            → { hosts: { id: { status } | { error } } }
//   GET    /hosts/:host/vms/:name            one container, 404 not_found when unknown
//   POST   /hosts/:host/vms/:name/:operation define, undefine, provision, ..., applyConfig, readConfig, listConfig
//   GET    /hosts/:host/ops/:id              an operation in flight: { done, fraction, result | error }
//   DELETE /hosts/:host/ops/:id              cancel it: rolled back
//   /admin/...                               see ADMIN_ROUTES below
//
// Errors are `{ error: { code, message, host?, transient? } }`; a host that is down answers 503
// with code `unreachable`. Any body is read as JSON, whatever its content type; none is `{}`.
import Fastify, { type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { SimFault } from './errors';
import type { Farm } from './farm';
import type { Body } from './input';
import { VM_OPERATIONS, type SimErrorBody } from './protocol';

type Params = Record<'host' | 'name' | 'operation' | 'id', string>;
type Query = Record<string, string | string[] | undefined>;
type Handler = (farm: Farm, params: Params, body: Body, query: Query) => Promise<unknown> | unknown;

interface Route {
  readonly method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  /** Fastify's path syntax: `:` marks a parameter. */
  readonly path: string;
  readonly handle: Handler;
}

const NO_CONTENT = Symbol('no content');

function hostList(value: unknown): string[] {
  if (!Array.isArray(value) || value.some((h) => typeof h !== 'string')) throw new SimFault(400, { code: 'bad_request', message: 'hosts must be an array of host ids' });
  return value as string[];
}

function optionalTimeout(value: unknown): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !(value > 0)) throw new SimFault(400, { code: 'bad_request', message: 'timeoutMs must be a positive number' });
  return value;
}

const route = (method: Route['method'], path: string, handle: Handler): Route => ({ method, path, handle });

const first = (value: string | string[] | undefined) => (Array.isArray(value) ? value[0] : value);

/** The hosts' own API: what drivers call. */
const HOST_ROUTES: readonly Route[] = [
  route('GET', '/hosts/:host', (farm, p) => farm.hostStatus(p.host)),
  route('POST', '/statuses', async (farm, _p, body) => ({ hosts: await farm.hostStatuses(hostList(body.hosts), optionalTimeout(body.timeoutMs)) })),
  route('GET', '/hosts/:host/vms/:name', (farm, p) => farm.containerStatus(p.host, p.name)),
  route('POST', '/hosts/:host/vms/:name/:operation', (farm, p, body) => {
    if (!VM_OPERATIONS.has(p.operation)) throw noRoute('POST', `/hosts/${p.host}/vms/${p.name}/${p.operation}`);
    return farm.operate(p.host, p.operation, p.name, body);
  }),
  route('GET', '/hosts/:host/ops/:id', (farm, p) => farm.operation(p.host, p.id)),
  route('DELETE', '/hosts/:host/ops/:id', (farm, p) => farm.cancel(p.host, p.id)),
];

/** Admin routes, under /admin. */
const ADMIN_ROUTES: readonly Route[] = [
  route('GET', 'health', (farm) => ({ ok: true, hosts: farm.listHosts().length })),
  route('GET', 'stats', (farm) => farm.stats()),
  route('POST', 'reset', async (farm) => (await farm.reset(), NO_CONTENT)),
  route('GET', 'hosts', (farm) => farm.listHosts()),
  route('POST', 'hosts', (farm, _p, body) => farm.addHost(body as never)),
  route('POST', 'fleet', (farm, _p, body) => farm.addFleet(body as never)),
  route('GET', 'hosts/:host', (farm, p) => farm.hostDetail(p.host)),
  route('PATCH', 'hosts/:host', (farm, p, body) => farm.updateHost(p.host, body)),
  route('DELETE', 'hosts/:host', async (farm, p) => (await farm.removeHost(p.host), NO_CONTENT)),
  route('POST', 'hosts/:host/crash', (farm, p) => farm.crash(p.host)),
  route('POST', 'hosts/:host/partition', (farm, p) => farm.partition(p.host)),
  route('POST', 'hosts/:host/rejoin', (farm, p) => farm.rejoin(p.host)),
  route('GET', 'hosts/:host/delays', (farm, p) => farm.getDelays(p.host)),
  route('PUT', 'hosts/:host/delays', (farm, p, body) => farm.setDelays(body, p.host)),
  route('GET', 'delays', (farm) => farm.getDelays()),
  route('PUT', 'delays', (farm, _p, body) => farm.setDelays(body)),
  route('GET', 'vms', (farm, _p, _b, q) => farm.listVms(first(q.host))),
  route('GET', 'hosts/:host/vms', (farm, p) => farm.listVms(p.host)),
  route('POST', 'hosts/:host/vms', (farm, p, body) => farm.addVm(p.host, body as never)),
  route('GET', 'hosts/:host/vms/:name', (farm, p) => farm.vmDetail(p.host, p.name)),
  route('PATCH', 'hosts/:host/vms/:name', (farm, p, body) => farm.patchVm(p.host, p.name, body)),
  route('DELETE', 'hosts/:host/vms/:name', async (farm, p) => (await farm.removeVm(p.host, p.name), NO_CONTENT)),
  route('GET', 'failures', (farm) => farm.listFailures()),
  route('POST', 'failures', (farm, _p, body) => farm.addFailure(body)),
  route('DELETE', 'failures', async (farm) => (await farm.clearFailures(), NO_CONTENT)),
  route('DELETE', 'failures/:id', async (farm, p) => (await farm.removeFailure(p.id), NO_CONTENT)),
  route('GET', 'ops', (farm) => farm.listOps()),
].map((r) => ({ ...r, path: `/admin/${r.path}` }));

/** Route list as text, for the 404 answer and the report. */
export const ADMIN_ROUTE_LIST = ADMIN_ROUTES.map((r) => `${r.method} ${r.path}`);

function noRoute(method: string, path: string): SimFault {
  return new SimFault(404, {
    code: 'bad_request',
    message: `no route ${method} ${path}; host routes are under /hosts/:host, admin routes: ${ADMIN_ROUTE_LIST.join(', ')}`,
  });
}

/** The decoded, non-empty segments of a request's path. */
function segmentsOf(url: string): string[] {
  const q = url.indexOf('?');
  return (q < 0 ? url : url.slice(0, q)).split('/').filter(Boolean).map(decodeURIComponent);
}

/** Whether an admin route has this path, under another method. */
function adminPathExists(segments: readonly string[]): boolean {
  return ADMIN_ROUTES.some((r) => {
    const pattern = r.path.split('/').filter(Boolean);
    return pattern.length === segments.length && pattern.every((p, i) => p.startsWith(':') || p === segments[i]);
  });
}

function notFound(request: FastifyRequest): SimFault {
  const segments = segmentsOf(request.url);
  const path = `/${segments.join('/')}`;
  if (segments[0] === 'admin' && adminPathExists(segments)) {
    return new SimFault(405, { code: 'bad_request', message: `${request.method} is not allowed on ${path}` });
  }
  return noRoute(request.method, path);
}

/** Every body is JSON, whatever content type it claims; an empty one is `{}`. */
function parseBody(_req: FastifyRequest, text: string | Buffer, done: (err: Error | null, body?: Body) => void): void {
  if (text.length === 0) return done(null, {});
  let parsed: unknown;
  try {
    parsed = JSON.parse(text.toString());
  } catch {
    return done(new SimFault(400, { code: 'bad_request', message: 'the body is not valid JSON' }));
  }
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) {
    return done(new SimFault(400, { code: 'bad_request', message: 'the body must be a JSON object' }));
  }
  done(null, parsed as Body);
}

function errorBody(err: FastifyError | SimFault | Error): [number, SimErrorBody] {
  if (err instanceof SimFault) return [err.status, err.body];
  const status = (err as FastifyError).statusCode;
  // Fastify's own refusals (a malformed content type, a body over the limit) are the caller's mistake.
  if (status !== undefined && status >= 400 && status < 500) return [status, { code: 'bad_request', message: err.message }];
  return [500, { code: 'internal', message: err?.message ?? String(err), transient: true }];
}

function register(app: FastifyInstance, farm: Farm, r: Route): void {
  app.route({
    method: r.method,
    url: r.path,
    handler: async (request: FastifyRequest, reply: FastifyReply) => {
      const body = (request.body as Body | undefined) ?? {};
      const result = await r.handle(farm, request.params as Params, body, request.query as Query);
      return result === NO_CONTENT ? reply.code(204).send() : reply.send(result ?? null);
    },
  });
}

/** A Fastify server for `farm`, not yet listening. */
export function createSimServer(farm: Farm): FastifyInstance {
  const app = Fastify({
    // Drivers keep connections alive between calls; outlive their idle timeouts.
    keepAliveTimeout: 65_000,
    // Config files travel in bodies; the farm sets no limit of its own.
    bodyLimit: 64 * 1024 * 1024,
    // While the sim closes, requests on open connections are still answered, as they were.
    return503OnClosing: false,
    exposeHeadRoutes: false,
    routerOptions: { ignoreTrailingSlash: true, ignoreDuplicateSlashes: true, maxParamLength: 1000 },
    frameworkErrors: (err, _request, reply) => {
      farm.countRequest();
      const message = err.code === 'FST_ERR_BAD_URL' ? 'the path is not valid URL encoding' : err.message;
      void (reply as FastifyReply).code(400).send({ error: { code: 'bad_request', message } });
    },
  });
  app.server.headersTimeout = 66_000;
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer' }, parseBody);
  app.addHook('onRequest', (_request, _reply, done) => {
    farm.countRequest();
    done();
  });
  app.setErrorHandler((err: FastifyError | SimFault, _request, reply) => {
    const [status, body] = errorBody(err);
    return reply.code(status).send({ error: body });
  });
  app.setNotFoundHandler((request, reply) => {
    let fault: SimFault;
    try {
      fault = notFound(request);
    } catch {
      fault = new SimFault(400, { code: 'bad_request', message: 'the path is not valid URL encoding' });
    }
    return reply.code(fault.status).send({ error: fault.body });
  });
  for (const r of [...HOST_ROUTES, ...ADMIN_ROUTES]) register(app, farm, r);
  return app;
}
