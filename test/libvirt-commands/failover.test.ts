// Failover between real libvirt hosts, fenced by a fence agent. The hard case: the host's daemon
// stops answering (its process is frozen) while its guest keeps running. The monitor declares it
// down; the failover runs the host's fence agent (here one that powers the test host off: it kills
// the host's process namespace, daemons and QEMU alike) and only then rebuilds the container on the
// other host. A fence agent that fails holds everything back until it succeeds.
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { failoverProgressQuery } from '../../src/domain/messages';
import { FenceAgents } from '../../src/drivers/fence-agents';
import type { MonitorOptions } from '../../workflows/monitor';
import type { FailoverReport } from '../../workflows/failover';
import { monitorCycle } from '../support/cycles';
import { eventually } from '../support/invariants';
import { skipMessage } from '../support/libvirt';
import { domstate } from '../libvirt/checks';
import { startLibvirtStack, tiny, type LibvirtStack } from './harness';

const K = 2;
// virsh calls on a loaded machine can take seconds: a poll gets 10 s before it counts as failed.
const MONITOR: MonitorOptions = { downAfter: K, contactEverySeconds: 60, pollTimeoutMs: 10_000 };

let ls: LibvirtStack | undefined;
const agentDir = mkdtempSync(path.join(os.tmpdir(), 'vmflow-fence-'));
const failFile = path.join(agentDir, 'fail');

// The test's power switch: `fence_testhost PID` kills the host's process; while the file `fail`
// exists it refuses with that file's text, as an unreachable BMC would.
writeFileSync(
  path.join(agentDir, 'fence_testhost'),
  `#!/bin/sh\nif [ -e ${JSON.stringify(failFile)} ]; then cat ${JSON.stringify(failFile)} >&2; exit 1; fi\nkill -KILL "$1"\n`,
);
chmodSync(path.join(agentDir, 'fence_testhost'), 0o755);

before(async () => {
  ls = await startLibvirtStack([{ name: 'lv-1' }, { name: 'lv-2' }], undefined, {
    fencing: new FenceAgents(agentDir),
    definition: (h) => ({ fence: { agent: 'fence_testhost', args: [String(h.pid)], timeoutSeconds: 10 } }),
  });
  if (!ls) console.log(skipMessage());
});
after(async () => {
  await ls?.stop();
  rmSync(agentDir, { recursive: true, force: true });
});

/** Process ids whose command line contains every one of `parts`. */
function processes(...parts: string[]): number[] {
  const found: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8').replace(/\0/g, ' ');
      if (parts.every((p) => cmdline.includes(p))) found.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return found;
}

describe('failover between libvirt hosts', { concurrency: false }, () => {
  it('a host whose daemon froze with its guest running is fenced by its agent before the guest is rebuilt elsewhere; a failing agent holds the rebuild back', async (t) => {
    if (!ls) return t.skip(skipMessage());
    const { stack } = ls;
    const lv1 = ls.host('lv-1');
    const lv2 = ls.host('lv-2');
    await (await stack.client.containers.create('lv-ha', { definition: { ...tiny }, hint: 'lv-1' })).result();
    assert.equal(await domstate(lv1.uri, 'lv-ha'), 'running');
    const guest = processes('qemu-system', 'guest=lv-ha', lv1.root);
    assert.equal(guest.length, 1, 'one QEMU process runs the guest on lv-1');

    // The daemon stops answering; the guest runs on.
    const [daemon] = processes('libvirtd', `${lv1.root}/libvirtd.conf`);
    assert.ok(daemon, 'found lv-1’s libvirtd');
    writeFileSync(failFile, 'BMC 10.0.0.5 did not answer');
    process.kill(daemon, 'SIGSTOP');
    for (let i = 0; i < K; i++) await monitorCycle(stack, MONITOR);
    assert.equal((await stack.client.hypervisors.get('lv-1')).state, 'down');
    assert.equal((await stack.client.hypervisors.get('lv-2')).state, 'up', JSON.stringify((await stack.client.hypervisors.get('lv-2')).metadata));
    assert.equal((await stack.client.containers.get('lv-ha')).state, 'lost');

    const handle = await eventually(async () => {
      for await (const w of stack.client.temporal.workflow.list({ query: `WorkflowType = 'failoverHost' AND VmflowHypervisor = 'lv-1'` })) return stack.client.temporal.workflow.getHandle(w.workflowId);
      return undefined;
    }, 30_000, 'the failover of lv-1');
    // While the agent fails, nothing is rebuilt: the guest still runs on lv-1 and nowhere else.
    await eventually(async () => {
      const pending = (await handle.describe()).raw.pendingActivities ?? [];
      return pending.some((a) => a.activityType?.name === 'fenceHost' && (a.lastFailure?.message ?? '').includes('BMC 10.0.0.5 did not answer'));
    }, 30_000, 'the fence agent’s refusal');
    const waiting = await handle.query(failoverProgressQuery);
    assert.equal(waiting.fenced, false);
    assert.deepEqual(waiting.restarted, []);
    assert.equal(await domstate(lv2.uri, 'lv-ha'), undefined, 'not rebuilt on lv-2 before the fence');
    assert.deepEqual(processes('qemu-system', 'guest=lv-ha', lv1.root), guest, 'the guest still runs on lv-1');

    // The BMC answers again: lv-1 is powered off, then lv-ha is rebuilt on lv-2.
    rmSync(failFile);
    const report: FailoverReport = await handle.result();
    assert.equal(report.fenced, true);
    assert.deepEqual(report.failed, []);
    assert.deepEqual(report.restarted.map((r) => [r.name, r.host]), [['lv-ha', 'lv-2']]);
    await eventually(async () => !lv1.alive(), 10_000, 'lv-1 powered off');
    assert.deepEqual(processes('qemu-system', 'guest=lv-ha', lv1.root), [], 'the old guest is gone with its host');
    assert.equal(await domstate(lv2.uri, 'lv-ha'), 'running');
    const c = await stack.client.containers.get('lv-ha');
    assert.equal(c.state, 'running');
    assert.equal((await stack.services.registry.get(c.parentId!)).name, 'lv-2');
    const events = await stack.services.registry.events((await stack.client.hypervisors.get('lv-1')).id, 20);
    assert.ok(events.some((e) => e.what === 'fenced' && e.why.includes('fence agent fence_testhost')), 'the host’s history says how it was fenced');
  });
});
