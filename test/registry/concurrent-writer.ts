// One of several OS processes hammering the same registry at once. Started by
// concurrency.test.ts with a WorkerPlan as argv[2]; prints `ready`, waits for `go` on stdin,
// runs its workload and prints a WorkerResult as one JSON line.
import { randomUUID } from 'node:crypto';
import { createInterface } from 'node:readline';
import { KeyConflictError, NoCapacityError, VmflowError } from '../../src/domain/errors';
import { Provisioner } from '../../src/provisioner';
import { openRegistry } from '../../src/registry';
import { addSpec, shuffled, type Outcome, type WorkerPlan, type WorkerResult } from './concurrent-plan';

function outcomeOf(err: unknown): Outcome {
  if (err instanceof KeyConflictError) return { ok: false, error: err.name, key: err.key, ownerId: err.ownerId };
  if (err instanceof NoCapacityError) return { ok: false, error: err.name, reasons: { ...err.reasons } };
  if (err instanceof VmflowError) return { ok: false, error: err.name, message: err.message };
  return { ok: false, error: (err as Error)?.name ?? 'Error', message: String((err as Error)?.stack ?? err) };
}

async function main(): Promise<void> {
  const plan = JSON.parse(process.argv[2] ?? '') as WorkerPlan;
  const p = plan.worker;
  const registry = await openRegistry({ url: plan.url, migrate: false, poolSize: 4 });
  const provisioner = new Provisioner(registry, { ipPool: plan.ipPool });

  const lines = createInterface({ input: process.stdin });
  const go = new Promise<void>((resolve) => lines.on('line', (l) => l.trim() === 'go' && resolve()));
  process.stdout.write('ready\n');
  await go;
  lines.close();

  const adds = async () => {
    const out: WorkerResult['adds'][number][] = [];
    const items = shuffled(Array.from({ length: plan.adds }, (_, i) => i), p + 1);
    for (const i of items) {
      const id = randomUUID();
      const spec = addSpec(p, i);
      try {
        await registry.add({
          id,
          type: 'container',
          name: spec.name,
          definition: { p, i },
          state: 'new',
          metadata: { 'test.p': p },
          tags: { scenario: 'adds', p: String(p), i: String(i) },
          keys: spec.keys,
        });
        out.push({ i, id, ok: true });
      } catch (err) {
        out.push({ i, id, ...outcomeOf(err) });
      }
    }
    return out;
  };

  const renames = async () => {
    let contested: Outcome;
    try {
      await registry.rename(plan.contestNodeId, undefined, plan.contestedName);
      contested = { ok: true };
    } catch (err) {
      contested = outcomeOf(err);
    }
    const out: WorkerResult['renames'][number][] = [];
    for (const target of shuffled(plan.renameTargets, p + 7)) {
      try {
        await registry.rename(plan.renameNodeId, undefined, target);
        out.push({ target, ok: true });
      } catch (err) {
        out.push({ target, ...outcomeOf(err) });
      }
    }
    return { contested, renames: out };
  };

  const claims = async () => {
    const out: WorkerResult['claims'][number][] = [];
    for (let j = 0; j < plan.claims; j++) {
      const commandId = `claim-${p}-${j}`;
      try {
        await registry.claim({
          hostId: plan.claimHostId,
          commandId,
          containerName: `c-${p}-${j}`,
          resources: { cpus: 1, memoryMiB: 256, diskGiB: 1 },
          ttlSeconds: 600,
        });
        out.push({ commandId, ok: true });
      } catch (err) {
        out.push({ commandId, ...outcomeOf(err) });
      }
    }
    return out;
  };

  const allocations = async () => {
    const out: WorkerResult['allocations'][number][] = [];
    for (let j = 0; j < plan.allocations; j++) {
      const name = `alloc-${p}-${j}`;
      try {
        const node = await provisioner.provisionContainer({ name, definition: { kind: 'generic', cpus: 1, memoryMiB: 256, diskGiB: 1 } });
        const network = node.definition.network as { ip: string; mac: string };
        out.push({ name, ok: true, ip: network.ip, mac: network.mac });
      } catch (err) {
        out.push({ name, ...outcomeOf(err) });
      }
    }
    return out;
  };

  const [addResults, renameResults, claimResults, allocationResults] = await Promise.all([adds(), renames(), claims(), allocations()]);
  const result: WorkerResult = {
    adds: addResults,
    contested: renameResults.contested,
    renames: renameResults.renames,
    claims: claimResults,
    allocations: allocationResults,
  };
  process.stdout.write(`${JSON.stringify(result)}\n`);
  await registry.close();
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
