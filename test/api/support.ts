// The API over real HTTP on loopback, against a real stack: tokens of every role, a small fetch
// client, and a snapshot of the registry to prove refused requests change nothing.
import type { FastifyInstance } from 'fastify';
import { buildApi, type DashboardSource } from '../../src/api';
import { TokenStore, type Role } from '../../src/auth';
import { loadConfig } from '../../src/config';
import { createLogger, type Logger } from '../../src/log';
import type { Stack } from '../support/stack';

export interface ApiUnderTest {
  readonly app: FastifyInstance;
  readonly url: string;
  readonly store: TokenStore;
  /** A live token of each role. */
  readonly tokens: Record<Role, string>;
  request(method: string, path: string, options?: RequestOptions): Promise<Answer>;
  close(): Promise<void>;
}

export interface RequestOptions {
  readonly token?: string | null;
  readonly body?: unknown;
  /** Sent as is, with content-type application/json unless told otherwise. */
  readonly raw?: string;
  readonly contentType?: string;
  readonly headers?: Record<string, string>;
}

export interface Answer {
  readonly status: number;
  readonly text: string;
  readonly json: any;
  readonly headers: Headers;
}

export async function startApi(stack: Stack, overrides: Record<string, string> = {}, options: { logger?: Logger; dashboard?: DashboardSource } = {}): Promise<ApiUnderTest> {
  const store = await TokenStore.open(stack.registryUrl);
  const tokens = {} as Record<Role, string>;
  for (const role of ['viewer', 'operator', 'admin'] as const) tokens[role] = (await store.create({ name: `test-${role}`, role, createdBy: 'test' })).secret;
  const config = loadConfig({ VMFLOW_TEMPORAL_ADDRESS: stack.temporal.address, VMFLOW_REGISTRY_URL: stack.registryUrl, ...overrides });
  const app = await buildApi({ client: stack.client, auth: store, config, logger: options.logger ?? createLogger({ level: process.env.API_TEST_LOG ?? 'silent' }), ...(options.dashboard ? { dashboard: options.dashboard } : {}) });
  const url = await app.listen({ port: 0, host: '127.0.0.1' });
  const request = async (method: string, path: string, o: RequestOptions = {}): Promise<Answer> => {
    const headers: Record<string, string> = { ...(o.headers ?? {}) };
    const token = o.token === undefined ? tokens.admin : o.token;
    if (token !== null) headers.authorization = `Bearer ${token}`;
    let body: string | undefined;
    if (o.raw !== undefined) body = o.raw;
    else if (o.body !== undefined) body = JSON.stringify(o.body);
    if (body !== undefined) headers['content-type'] = o.contentType ?? 'application/json';
    const res = await fetch(`${url}${path}`, { method, headers, body });
    const text = await res.text();
    let json: unknown;
    try {
      json = text ? JSON.parse(text) : undefined;
    } catch {
      json = undefined;
    }
    return { status: res.status, text, json, headers: res.headers };
  };
  return {
    app,
    url,
    store,
    tokens,
    request,
    async close() {
      await app.close();
      await store.close();
    },
  };
}

/** Everything a refused request must leave as it was: every node's version and parent, and the tokens. */
export async function registrySnapshot(stack: Stack, store: TokenStore): Promise<string> {
  const nodes = await stack.services.registry.list({});
  const tokens = await store.list({ includeRevoked: true });
  return JSON.stringify({
    nodes: nodes.map((n) => [n.type, n.name, n.state, n.version, n.parentId, n.keys.join(',')]).sort(),
    tokens: tokens.map((t) => [t.id, t.role, t.revokedAt]).sort(),
  });
}

/** Polls a command over HTTP until it has ended. */
export async function commandEnd(api: ApiUnderTest, href: string, timeoutMs = 30_000): Promise<any> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const r = await api.request('GET', href);
    if (r.status === 200 && r.json.status !== 'RUNNING') return r.json;
    if (Date.now() > deadline) throw new Error(`command ${href} did not end within ${timeoutMs} ms: ${r.text}`);
    await new Promise((res) => setTimeout(res, 150));
  }
}

