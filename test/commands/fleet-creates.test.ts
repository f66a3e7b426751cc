// 200 creates at once on 1,000 small sim hosts, placed by two workers (this process's and a
// worker process), each with its own working copy: every host ends within its capacity in the
// registry and on the sim, every claim the registry refused was retried on another host, and no
// activity ran twice (a workflow task held open by its registry calls past its timeout).
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { SqlRegistry } from '../../src/registry/sql-registry';
import { fillFleet } from '../../bench/fleet-fill';
import { addReruns, describeReruns, emptyReruns } from '../../bench/reruns';
import { startStack, type Stack } from '../support/stack';

const HOSTS = 1000;
const CREATES = 200;
const IP_POOL = '10.0.0.0/16';
/** Two containers fill a host, so that the workers' claims meet on the same hosts. */
const HOST_CAPACITY = { cpus: 2, memoryMiB: 4096, diskGiB: 100 };
const CONTAINER = { kind: 'generic', cpus: 1, memoryMiB: 2048, diskGiB: 10 };
const ROOT = path.resolve(__dirname, '..', '..');

interface ClaimOutcome {
  readonly host: { readonly id: string };
  readonly attempts: number;
  readonly skipped: ReadonlyArray<{ hostId: string; reason: string }>;
}

describe(`${CREATES} concurrent creates on ${HOSTS} sim hosts, two workers`, () => {
  let stack: Stack;
  let worker: ChildProcess | undefined;
  const claims = new Map<string, ClaimOutcome>();
  const results: Array<{ name: string; state?: string; error?: string }> = [];
  let reruns = emptyReruns();

  before(async () => {
    stack = await startStack({ faultInjection: false, ipPool: IP_POOL });
    await fillFleet(stack.services.registry as SqlRegistry, stack.sim.admin, { hosts: HOSTS, containersPerHost: 0, hostCapacity: HOST_CAPACITY, container: CONTAINER, ipPool: IP_POOL });
    worker = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'src', 'cli', 'main.ts'), 'worker'], {
      cwd: ROOT,
      env: {
        ...process.env,
        VMFLOW_TEMPORAL_ADDRESS: stack.temporal.address,
        VMFLOW_REGISTRY_URL: stack.registryUrl,
        VMFLOW_IP_POOL: IP_POOL,
        VMFLOW_LOG_LEVEL: 'warn',
        VMFLOW_MONITOR_INTERVAL: '3600',
        VMFLOW_COLLECTOR_INTERVAL: '3600',
      },
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    await Promise.all(
      Array.from({ length: CREATES }, async (_, i) => {
        const name = `fc-${String(i).padStart(3, '0')}`;
        try {
          const handle = await stack.client.containers.create(name, { definition: CONTAINER });
          results.push({ name, state: (await handle.result()).state });
          // What the claim did, as the command's history recorded it.
          const history = await stack.client.temporal.workflow.getHandle(handle.workflowId).fetchHistory();
          reruns = addReruns(reruns, history);
          for (const event of history.events ?? []) {
            for (const payload of event.markerRecordedEventAttributes?.details?.result?.payloads ?? []) {
              if (Buffer.from(payload.metadata?.encoding ?? []).toString() !== 'json/plain') continue;
              const value = JSON.parse(Buffer.from(payload.data ?? []).toString('utf8')) as Partial<ClaimOutcome> | null;
              if (value && typeof value === 'object' && 'placeholderId' in value) claims.set(name, value as ClaimOutcome);
            }
          }
        } catch (err) {
          results.push({ name, error: String(err) });
        }
      }),
    );
  });

  after(async () => {
    if (worker && worker.exitCode === null) {
      const exited = new Promise((r) => worker!.once('exit', r));
      worker.kill('SIGKILL');
      await exited;
    }
    await stack?.stop();
  });

  test('every create ends running', () => {
    assert.deepEqual(results.filter((r) => r.state !== 'running'), []);
    assert.equal(results.length, CREATES);
  });

  test('no host is over its capacity, in the registry or on the sim', async () => {
    const hosts = await stack.services.registry.hostSnapshot();
    const over = hosts.filter((h) => h.used.cpus > h.allowance.cpus || h.used.memoryMiB > h.allowance.memoryMiB || h.used.diskGiB > h.allowance.diskGiB);
    assert.deepEqual(over.map((h) => h.name), []);
    assert.equal(hosts.reduce((n, h) => n + h.used.cpus, 0), CREATES * CONTAINER.cpus, 'every create holds its cpus once, no placeholder left');
    const onSim = await stack.sim.admin.hosts();
    assert.deepEqual(onSim.filter((h) => h.vmCount > 2).map((h) => `${h.id}: ${h.vmCount}`), []);
    assert.equal(onSim.reduce((n, h) => n + h.vmCount, 0), CREATES);
  });

  test('no activity ran twice: every workflow task ended before its timeout, its local activities with it', () => {
    console.log(`# activities: ${describeReruns(reruns)}`);
    assert.equal(reruns.activities, 0, describeReruns(reruns));
  });

  test('every claim the registry refused was retried on another host, and the command placed there', async () => {
    assert.equal(claims.size, CREATES, 'every create recorded its claim');
    let lost = 0;
    let rerun = 0;
    for (const [name, claim] of claims) {
      // 0: the activity ran again after its claim was made (a slow first run) and found that claim.
      if (claim.attempts === 0) rerun++;
      else assert.equal(claim.attempts, claim.skipped.length + 1, `${name}: one successful claim after its refused ones`);
      for (const s of claim.skipped) {
        lost++;
        assert.notEqual(s.hostId, claim.host.id, `${name} was retried on the host that refused it`);
      }
      const node = await stack.services.registry.getByName(name);
      assert.equal(node.parentId, claim.host.id, `${name} is on the host its claim names`);
    }
    console.log(`# ${lost} lost races among ${CREATES} creates by two workers, each retried on another host; ${rerun} claims found again by a repeated activity`);
  });
});
