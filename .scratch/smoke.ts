import SwaggerParser from '@apidevtools/swagger-parser';
import { buildApi, routeTable } from '../src/api';
import { TokenStore } from '../src/auth';
import { loadConfig } from '../src/config';
import { createLogger } from '../src/log';
import { startStack } from '../test/support/stack';

async function main() {
  const t0 = Date.now();
  const stack = await startStack({ hosts: [{ name: 'hv-1' }, { name: 'hv-2' }] });
  console.log('stack', Date.now() - t0);
  const store = await TokenStore.open(stack.registryUrl);
  const { secret } = await store.create({ name: 'a', role: 'admin' });
  const app = await buildApi({ client: stack.client, auth: store, config: loadConfig({}), logger: createLogger({ level: 'warn' }) });
  console.log(routeTable(app).length, 'routes');
  const doc = app.swagger();
  try { await SwaggerParser.validate(JSON.parse(JSON.stringify(doc))); console.log('openapi valid'); } catch (e) { console.log('INVALID', (e as Error).message.slice(0, 2000)); }
  const H = { authorization: `Bearer ${secret}` };
  const r = async (method: string, url: string, body?: unknown, headers: Record<string, string> = H) => {
    const res = await app.inject({ method: method as any, url, headers: { ...headers, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) }, payload: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body) });
    console.log(method, url, res.statusCode, res.body.slice(0, 300));
    return res;
  };
  await r('GET', '/v1/hypervisors');
  await r('GET', '/v1/hypervisors/hv-1');
  const c = await r('POST', '/v1/containers', { name: 'web1', definition: { kind: 'web', cpus: 1, memoryMiB: 512, diskGiB: 5 } });
  const href = c.json().href;
  await new Promise((res) => setTimeout(res, 300));
  await r('GET', href);
  await new Promise((res) => setTimeout(res, 3000));
  await r('GET', href);
  await r('GET', '/v1/containers');
  await r('POST', '/v1/containers', '{bad');
  await r('POST', '/v1/containers', { name: 'x', definition: { kind: 'web', cpus: '1', memoryMiB: 512, diskGiB: 5 }, foo: 1 });
  await r('POST', '/v1/containers/web1/start', undefined);
  await r('POST', '/v1/containers/nope/start', {});
  await r('GET', '/v1/commands?container=web1');
  await r('GET', '/v1/keys/name:web1');
  await r('GET', '/v1/agents');
  await r('GET', '/v1/controller');
  await r('GET', '/healthz', undefined, {});
  await r('GET', '/v1/containers', undefined, {});
  const m = await r('GET', '/metrics');
  console.log(m.headers['content-type'], m.body.split('\n').filter((l) => l.startsWith('vmflow_commands') || l.startsWith('vmflow_api_requests_total')).join('\n'));
  await app.close();
  await store.close();
  await stack.stop();
}
main().catch((e) => { console.error(e); process.exit(1); });
