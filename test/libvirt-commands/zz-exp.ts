import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { startLibvirtPair, virsh } from '/work/main/test/support/libvirt';
import { LibvirtDriver } from '/work/main/src/drivers/libvirt';
import { tinySpec } from '/work/main/test/libvirt/checks';
(async () => {
  const [a, b] = (await startLibvirtPair())!;
  const d = new LibvirtDriver({ pollMs: 1000, commandTimeoutMs: 20000 });
  const s = tinySpec('m1', { memoryMiB: 128 }); await d.define(a.ref, s); await d.provision(a.ref, s); await d.start(a.ref, 'm1');
  console.log('setspeed', await virsh(a.uri, 'migrate-setspeed', '--domain=m1', '--bandwidth=2'));
  writeFileSync('/tmp/exp/job.json', JSON.stringify({ a: a.ref, b: b.ref, s }));
  const t0 = Date.now();
  const child = spawn(process.execPath, ['--import', 'tsx', '-e', `
    const { LibvirtDriver } = require('/work/main/src/drivers/libvirt');
    const j = require('/tmp/exp/job.json');
    new LibvirtDriver().migrate(j.a, j.b, j.s, { live: true }, { progress: (p) => console.log(JSON.stringify(p)) }).then(() => console.log('DONE'), (e) => console.log('ERR', e.message));
  `], { stdio: ['ignore', 'pipe', 'inherit'] });
  child.stdout.on('data', (c) => process.stdout.write(`[child ${Date.now() - t0}] ${c}`));
  await new Promise((r) => setTimeout(r, 6000));
  child.kill('SIGKILL');
  console.log('killed at', Date.now() - t0);
  await new Promise((r) => setTimeout(r, 3000));
  console.log('ps virsh:', (await new Promise<string>((r) => { const p = spawn('sh', ['-c', 'ps -ef | grep "virsh.*migrate" | grep -v grep']); let o=''; p.stdout.on('data', (c) => o += c); p.on('exit', () => r(o)); })));
  console.log('A:', (await virsh(a.uri, 'list', '--all')).stdout, 'B:', (await virsh(b.uri, 'list', '--all')).stdout);
  console.log('A jobinfo:', (await virsh(a.uri, 'domjobinfo', '--domain=m1')).stdout);
  console.log('B storage:', (await virsh(b.uri, 'vol-list', '--pool', (await virsh(b.uri, 'pool-list', '--name')).stdout.split('\n')[0]!.trim())).stdout);
  for (let i = 0; i < 0; i++) { await new Promise((r) => setTimeout(r, 2000)); const j = (await virsh(a.uri, 'domjobinfo', '--domain=m1')).stdout; console.log(i, j.split('\n').slice(0,3).join(' | ')); }
  console.log('A:', (await virsh(a.uri, 'list', '--all')).stdout, 'B:', (await virsh(b.uri, 'list', '--all')).stdout);
  console.log('setspeed', await virsh(a.uri, 'migrate-setspeed', '--domain=m1', '--bandwidth=100000'));
  const t1 = Date.now();
  try { await d.migrate(a.ref, b.ref, s, { live: true }, { progress: (p) => console.log('retry progress', Date.now() - t1, JSON.stringify(p)) }); console.log('retry DONE', Date.now() - t1); } catch (e) { console.log('retry ERR', (e as Error).message); }
  console.log('A:', (await virsh(a.uri, 'list', '--all')).stdout, 'B:', (await virsh(b.uri, 'list', '--all')).stdout);
  await a.stop(); await b.stop();
})();
