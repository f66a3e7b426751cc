import { after, before, it } from 'node:test';
import { startLibvirtStack, tiny, historyOf, type LibvirtStack } from '/work/main/test/libvirt-commands/harness';
import { watchReboots } from '/work/main/test/libvirt/checks';
let ls: LibvirtStack | undefined;
before(async () => { ls = await startLibvirtStack([{ name: 'lv-a' }]); });
after(async () => { await ls?.stop(); });
it('reboot', async () => {
  const c = ls!.stack.client.containers;
  await (await c.create('vm1', { definition: tiny, hint: 'lv-a' })).result();
  for (let i = 0; i < 2; i++) {
  const reboots = await watchReboots(ls!.host('lv-a').uri, 'vm1', 30);
  const t0 = Date.now();
  const h = await c.reboot('vm1');
  const r = await h.result();
  console.log('took', Date.now() - t0, r.steps);
  await new Promise((r) => setTimeout(r, 2000));
  console.log('reboots', await reboots());
  const ev = await historyOf(ls!, h.workflowId);
  for (const e of ev) if (String(e.eventType).includes('ACTIVITY')) console.log(e.eventType, JSON.stringify(e.activityTaskStartedEventAttributes ?? e.activityTaskScheduledEventAttributes?.activityType ?? ''));
  }
});
