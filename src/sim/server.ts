// The farm's HTTP face, on plain node:http to keep per-request work small.
//
//   GET    /hosts/:host                      host status (capacity, free, load, containers)
//   GET    /hosts/:host/vms/:name            one container, 404 not_found when unknown
//   POST   /hosts/:host/vms/:name/:operation define, undefine, provision, ..., applyConfig, readConfig
//   GET    /hosts/:host/ops/:id              an operation in flight: { done, fraction, result | error }
//   DELETE /hosts/:host/ops/:id              cancel it: rolled back
//   /admin/...                               see ADMIN_ROUTES below
//
// Errors are `{ error: { code, message, host?, transient? } }`; a host that is down answers 503
// with code `unreachable`.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { SimFault } from './errors';
import type { Farm } from './farm';
import { VM_OPERATIONS } from './protocol';

type Json = Record<string, unknown>;
type Handler = (farm: Farm, params: string[], body: Json, query: URLSearchParams) => Promise<unknown> | unknown;

interface Route {
  readonly method: string;
  /** Path segments after the prefix; `:` marks a parameter. */
  readonly pattern: readonly string[];
  readonly handle: Handler;
}

const route = (method: string, path: string, handle: Handler): Route => ({
  method,
  pattern: path.split('/').filter(Boolean),
  handle,
});

const NO_CONTENT = Symbol('no content');

/** Admin routes, under /admin. */
const ADMIN_ROUTES: readonly Route[] = [
  route('GET', 'health', (farm) => ({ ok: true, hosts: farm.listHosts().length })),
  route('GET', 'stats', (farm) => farm.stats()),
  route('POST', 'reset', async (farm) => (await farm.reset(), NO_CONTENT)),
  route('GET', 'hosts', (farm) => farm.listHosts()),
  route('POST', 'hosts', (farm, _p, body) => farm.addHost(body as never)),
  route('GET', 'hosts/:host', (farm, [h]) => farm.hostDetail(h)),
  route('PATCH', 'hosts/:host', (farm, [h], body) => farm.updateHost(h, body)),
  route('DELETE', 'hosts/:host', async (farm, [h]) => (await farm.removeHost(h), NO_CONTENT)),
  route('POST', 'hosts/:host/crash', (farm, [h]) => farm.crash(h)),
  route('POST', 'hosts/:host/partition', (farm, [h]) => farm.partition(h)),
  route('POST', 'hosts/:host/rejoin', (farm, [h]) => farm.rejoin(h)),
  route('GET', 'hosts/:host/delays', (farm, [h]) => farm.getDelays(h)),
  route('PUT', 'hosts/:host/delays', (farm, [h], body) => farm.setDelays(body, h)),
  route('GET', 'delays', (farm) => farm.getDelays()),
  route('PUT', 'delays', (farm, _p, body) => farm.setDelays(body)),
  route('GET', 'vms', (farm, _p, _b, q) => farm.listVms(q.get('host') ?? undefined)),
  route('GET', 'hosts/:host/vms', (farm, [h]) => farm.listVms(h)),
  route('POST', 'hosts/:host/vms', (farm, [h], body) => farm.addVm(h, body as never)),
  route('GET', 'hosts/:host/vms/:name', (farm, [h, n]) => farm.vmDetail(h, n)),
  route('PATCH', 'hosts/:host/vms/:name', (farm, [h, n], body) => farm.patchVm(h, n, body)),
  route('DELETE', 'hosts/:host/vms/:name', async (farm, [h, n]) => (await farm.removeVm(h, n), NO_CONTENT)),
  route('GET', 'failures', (farm) => farm.listFailures()),
  route('POST', 'failures', (farm, _p, body) => farm.addFailure(body)),
  route('DELETE', 'failures', async (farm) => (await farm.clearFailures(), NO_CONTENT)),
  route('DELETE', 'failures/:id', async (farm, [id]) => (await farm.removeFailure(id), NO_CONTENT)),
  route('GET', 'ops', (farm) => farm.listOps()),
];

/** Route list as text, for the 404 answer and the report. */
export const ADMIN_ROUTE_LIST = ADMIN_ROUTES.map((r) => `${r.method} /admin/${r.pattern.join('/')}`);

function matchRoute(routes: readonly Route[], method: string, segments: string[]): { route?: Route; params: string[]; pathMatched: boolean } {
  let pathMatched = false;
  for (const r of routes) {
    if (r.pattern.length !== segments.length) continue;
    const params: string[] = [];
    let ok = true;
    for (let i = 0; i < segments.length; i++) {
      const p = r.pattern[i]!;
      if (p.startsWith(':')) params.push(segments[i]!);
      else if (p !== segments[i]) {
        ok = false;
        break;
      }
    }
    if (!ok) continue;
    pathMatched = true;
    if (r.method === method) return { route: r, params, pathMatched };
  }
  return { params: [], pathMatched };
}

function send(res: ServerResponse, status: number, body: unknown): void {
  if (body === NO_CONTENT) {
    res.writeHead(204);
    res.end();
    return;
  }
  const text = JSON.stringify(body ?? null);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

function readBody(req: IncomingMessage): Promise<Json> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('error', reject);
    req.on('end', () => {
      if (chunks.length === 0) return resolve({});
      try {
        const parsed = JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown;
        if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) {
          reject(new SimFault(400, { code: 'bad_request', message: 'the body must be a JSON object' }));
        } else resolve(parsed as Json);
      } catch {
        reject(new SimFault(400, { code: 'bad_request', message: 'the body is not valid JSON' }));
      }
    });
  });
}

async function dispatch(farm: Farm, method: string, segments: string[], body: Json, query: URLSearchParams): Promise<[number, unknown]> {
  const [top, hostId, kind, name, operation] = segments;
  if (top === 'hosts' && hostId !== undefined) {
    if (segments.length === 2 && method === 'GET') return [200, await farm.hostStatus(hostId)];
    if (kind === 'vms' && name !== undefined) {
      if (segments.length === 4 && method === 'GET') return [200, await farm.containerStatus(hostId, name)];
      if (segments.length === 5 && method === 'POST' && VM_OPERATIONS.has(operation!)) {
        return [200, await farm.operate(hostId, operation!, name, body)];
      }
    }
    if (kind === 'ops' && name !== undefined && segments.length === 4) {
      if (method === 'GET') return [200, farm.operation(hostId, name)];
      if (method === 'DELETE') return [200, await farm.cancel(hostId, name)];
    }
  }
  if (top === 'admin') {
    const found = matchRoute(ADMIN_ROUTES, method, segments.slice(1));
    if (found.route) return [200, await found.route.handle(farm, found.params, body, query)];
    if (found.pathMatched) return [405, { error: { code: 'bad_request', message: `${method} is not allowed on /${segments.join('/')}` } }];
  }
  return [
    404,
    {
      error: {
        code: 'bad_request',
        message: `no route ${method} /${segments.join('/')}; host routes are under /hosts/:host, admin routes: ${ADMIN_ROUTE_LIST.join(', ')}`,
      },
    },
  ];
}

/** An HTTP server for `farm`. */
export function createSimServer(farm: Farm): Server {
  const server = createServer((req, res) => {
    farm.countRequest();
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const pathname = q < 0 ? url : url.slice(0, q);
    const query = new URLSearchParams(q < 0 ? '' : url.slice(q + 1));
    const method = req.method ?? 'GET';
    let segments: string[];
    try {
      segments = pathname.split('/').filter(Boolean).map(decodeURIComponent);
    } catch {
      send(res, 400, { error: { code: 'bad_request', message: 'the path is not valid URL encoding' } });
      return;
    }
    const body = method === 'GET' || method === 'HEAD' ? Promise.resolve({}) : readBody(req);
    body
      .then((b) => dispatch(farm, method, segments, b, query))
      .then(
        ([status, payload]) => send(res, status, payload),
        (err: unknown) => {
          if (err instanceof SimFault) send(res, err.status, { error: err.body });
          else send(res, 500, { error: { code: 'internal', message: (err as Error)?.message ?? String(err), transient: true } });
        },
      );
  });
  // Drivers keep connections alive between calls; outlive their idle timeouts.
  server.keepAliveTimeout = 65_000;
  server.headersTimeout = 66_000;
  return server;
}
