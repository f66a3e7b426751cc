import { startStack } from '../test/support/stack';
import { startApi } from '../test/api/support';
async function main() {
  const stack = await startStack({ hosts: [{ name: 'hv-1' }, { name: 'hv-3' }] });
  const api = await startApi(stack);
  await stack.sim.admin.setDelays({ define: 30_000 }, 'hv-3');
  const create = await api.request('POST', '/v1/containers', { body: { name: 'slow1', definition: { kind: 'web', cpus: 1, memoryMiB: 512, diskGiB: 5 }, hint: 'hv-3' } });
  console.log(create.status, create.text);
  for (let i = 0; i < 10; i++) { const r = await api.request('GET', create.json.href); console.log(r.status, JSON.stringify(r.json.progress)); await new Promise((r) => setTimeout(r, 500)); }
  const h = stack.client.commands.handle(create.json.workflowId);
  console.log(JSON.stringify(await h.progress().catch((e) => String(e))));
  await api.close(); await stack.stop();
}
main().catch((e) => { console.error(e); process.exit(1); });
