import { spawn } from 'node:child_process';
import { startLibvirt } from '/work/main/test/support/libvirt';
import { LibvirtDriver } from '/work/main/src/drivers/libvirt';
import { tinySpec } from '/work/main/test/libvirt/checks';
(async () => {
  const h = (await startLibvirt({ name: 'x' }))!;
  const d = new LibvirtDriver({ rebootAckMs: 1500, pollMs: 100 });
  const s = tinySpec('r1'); await d.define(h.ref, s); await d.provision(h.ref, s); await d.start(h.ref, 'r1');
  await new Promise((r) => setTimeout(r, 3000));
  const ch = spawn('virsh', ['-c', h.uri, 'event', '--all', '--loop', '--timestamp', '--timeout=12']);
  ch.stdout.on('data', (c) => process.stdout.write(c));
  await new Promise((r) => setTimeout(r, 500));
  console.log('reboot at', new Date().toISOString());
  await d.reboot(h.ref, 'r1');
  console.log('reboot done', new Date().toISOString());
  await new Promise((r) => ch.on('exit', r));
  await h.stop();
})();
