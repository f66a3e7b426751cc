import { performance } from 'node:perf_hooks';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { openRegistry } from '../src/registry';
async function main() {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'lp-'));
  const registry = await openRegistry({ url: `sqlite:${path.join(dir, 'r.sqlite')}` });
  const host = await registry.add({ type: 'hypervisor', name: 'hv-1', definition: { driver: 'sim', address: 'x', capacity: { cpus: 1, memoryMiB: 1, diskGiB: 1 } }, state: 'up' });
  for (let i = 0; i < 10000; i++) {
    const ip = `10.${100 + Math.floor(i / 65536)}.${Math.floor(i / 256) % 256}.${i % 256}`;
    await registry.add({ type: 'container', name: `b${i}`, definition: { kind: 'generic', cpus: 1, memoryMiB: 256, diskGiB: 1, network: { ip, mac: 'x' } }, state: 'stopped', parentId: host.id, keys: [`ip:${ip}`] });
  }
  const time = async (name: string, f: () => Promise<unknown>, n = 50) => { await f(); const t = performance.now(); for (let i = 0; i < n; i++) await f(); console.log(name, ((performance.now() - t) / n).toFixed(2), 'ms'); };
  await time('list 100 offset 0', () => registry.list({ type: 'container', limit: 100, offset: 0 }));
  await time('list 100 offset 9000', () => registry.list({ type: 'container', limit: 100, offset: 9000 }));
  await time('count', () => registry.count({ type: 'container' }));
  await time('list hv', () => registry.list({ type: 'hypervisor' }));
  await time('list env', () => registry.list({ type: 'environment' }));
  await time('list 1000', () => registry.list({ type: 'container', limit: 1000, offset: 5000 }), 10);
  await registry.close();
}
main();
