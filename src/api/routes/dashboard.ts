// The dashboard's page and its two assets, from the folder the bundle was built into. The page
// holds no data: it asks the API for everything with the token the operator entered, so serving
// it needs no role. A dashboard that could not be built answers 503 with the reason at `/`.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { DASHBOARD_FILES, type DashboardSource } from '../../dashboard/bundle';

const TYPES: Record<string, string> = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8' };

// The page runs only its own script and talks only to this API.
const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

const escape = (s: string) => s.replace(/[&<>"]/g, (c) => `&#${c.charCodeAt(0)};`);

export function dashboardRoutes(app: FastifyInstance, source: DashboardSource): void {
  const common = { config: { role: 'public' as const }, schema: { hide: true } };
  if ('unavailable' in source) {
    app.route({
      ...common,
      method: 'GET',
      url: '/',
      handler: async (_req, reply) => {
        reply.status(503).type(TYPES['.html']!).header('cache-control', 'no-store');
        return `<!doctype html><title>vmflow</title><h1>The dashboard is not available</h1><p>${escape(source.unavailable)}</p><p>The REST API works: <a href="/openapi.json">/openapi.json</a>.</p>`;
      },
    });
    return;
  }
  const content = new Map(DASHBOARD_FILES.map((f) => [f, readFileSync(path.join(source.dir, f))]));
  const send = (file: (typeof DASHBOARD_FILES)[number], cache: string) => async (_req: unknown, reply: import('fastify').FastifyReply) => {
    reply.type(TYPES[path.extname(file)]!).header('cache-control', cache).header('content-security-policy', CSP).header('x-content-type-options', 'nosniff').header('referrer-policy', 'no-referrer');
    return content.get(file);
  };
  app.route({ ...common, method: 'GET', url: '/', handler: send('index.html', 'no-store') });
  // Asset URLs carry the build's version (?v=), so they may be cached for good.
  app.route({ ...common, method: 'GET', url: '/ui/app.js', handler: send('app.js', 'public, max-age=31536000, immutable') });
  app.route({ ...common, method: 'GET', url: '/ui/app.css', handler: send('app.css', 'public, max-age=31536000, immutable') });
}
