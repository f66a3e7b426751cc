// Eight OS processes write to one registry at the same moment: overlapping adds, renames onto one
// name, claims on a nearly full host, address allocation. Afterwards every invariant must hold.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { after, before, test } from 'node:test';
import type { NodeRecord } from '../../src/domain/types';
import { hostAddresses, macForIp, parsePool } from '../../src/provisioner';
import { openRegistry, type SqlRegistry } from '../../src/registry';
import { describeOnDatabases } from '../support/databases';
import { addSpec, type WorkerPlan, type WorkerResult } from './concurrent-plan';
import { addContainer, addHost } from './fixtures';

const WORKERS = 8;
const ADDS = 200;
const RENAME_TARGETS = Array.from({ length: 12 }, (_, i) => `target-${i}`);
const CLAIMS_PER_WORKER = 3;
const FREE_CPUS = 5;
const ALLOCATIONS_PER_WORKER = 10;
const IP_POOL = '10.200.0.0/24';
const ROOT = path.resolve(__dirname, '../..');
const WRITER = path.join(__dirname, 'concurrent-writer.ts');

let lastRunMs = 0;

/** Starts one process per plan, releases them together once all are ready, and collects their results. */
async function runWorkers(plans: readonly WorkerPlan[]): Promise<WorkerResult[]> {
  const children = plans.map((plan) => {
    const child = spawn(process.execPath, ['--import', 'tsx', WRITER, JSON.stringify(plan)], { cwd: ROOT, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const ready = new Promise<void>((resolve, reject) => {
      const check = () => stdout.startsWith('ready\n') && resolve();
      child.stdout.on('data', check);
      child.once('exit', (code) => reject(new Error(`writer ${plan.worker} exited (${code}) before it was ready:\n${stderr}`)));
    });
    const done = new Promise<WorkerResult>((resolve, reject) => {
      child.once('exit', (code) => {
        if (code !== 0) return reject(new Error(`writer ${plan.worker} failed (${code}):\n${stderr}`));
        const last = stdout.trim().split('\n').pop() ?? '';
        resolve(JSON.parse(last) as WorkerResult);
      });
    });
    ready.catch(() => undefined);
    return { child, ready, done };
  });
  try {
    await Promise.all(children.map((c) => c.ready));
    const started = Date.now();
    for (const c of children) c.child.stdin.end('go\n');
    const results = await Promise.all(children.map((c) => c.done));
    lastRunMs = Date.now() - started;
    return results;
  } finally {
    for (const c of children) if (c.child.exitCode === null) c.child.kill('SIGKILL');
  }
}

describeOnDatabases('registry under 8 concurrent processes', (db) => {
  let registry: SqlRegistry;
  let results: WorkerResult[];
  let renamed: NodeRecord[];
  let contestants: NodeRecord[];
  let hostId: string;

  before(async () => {
    const url = await db().freshUrl();
    registry = await openRegistry({ url });
    const host = await addHost(registry, 'crowded', { cpus: 10, memoryMiB: 65536, diskGiB: 1000 });
    hostId = host.id;
    await addContainer(registry, 'resident', host.id, { cpus: 10 - FREE_CPUS, memoryMiB: 1024, diskGiB: 10 });
    renamed = [];
    contestants = [];
    for (let p = 0; p < WORKERS; p++) {
      renamed.push(await registry.add({ type: 'container', name: `rename-${p}`, definition: {}, state: 'new' }));
      contestants.push(await registry.add({ type: 'container', name: `contestant-${p}`, definition: {}, state: 'new' }));
    }
    results = await runWorkers(
      Array.from({ length: WORKERS }, (_, p) => ({
        url,
        worker: p,
        adds: ADDS,
        contestNodeId: contestants[p]!.id,
        contestedName: 'the-one',
        renameNodeId: renamed[p]!.id,
        renameTargets: RENAME_TARGETS,
        claimHostId: host.id,
        claims: CLAIMS_PER_WORKER,
        allocations: ALLOCATIONS_PER_WORKER,
        ipPool: IP_POOL,
      })),
    );
    const attempts = WORKERS * (ADDS + 1 + RENAME_TARGETS.length + CLAIMS_PER_WORKER + ALLOCATIONS_PER_WORKER);
    console.log(`# ${db().kind}: ${attempts} contested writes by ${WORKERS} processes in ${lastRunMs} ms`);
  });

  after(async () => {
    await registry?.close();
  });

  test('fails only with key conflicts, each naming the key and its real owner', async () => {
    const unexpected = results.flatMap((r) => r.adds).filter((a) => !a.ok && a.error !== 'KeyConflictError');
    assert.deepEqual(unexpected, []);
    for (const [p, r] of results.entries()) {
      for (const a of r.adds) {
        if (a.ok) continue;
        const spec = addSpec(p, a.i);
        assert.ok([`name:${spec.name}`, ...spec.keys].includes(a.key!), `conflict on ${a.key}, which add ${p}/${a.i} did not ask for`);
        // Nothing is removed in this workload, so the owner named then still owns the key now.
        assert.equal((await registry.getByKey(a.key!)).id, a.ownerId);
      }
    }
  });

  test('gives every key exactly one owner and leaves nothing of a losing add', async () => {
    const adds = results.flatMap((r, p) => r.adds.map((a) => ({ ...a, p })));
    const winners = adds.filter((a) => a.ok);
    const nodes = await registry.list({ tag: { key: 'scenario', value: 'adds' } });
    assert.ok(winners.length >= 100 && winners.length < adds.length, `${winners.length} of ${adds.length} adds won`);
    const stored = new Set(nodes.map((n) => n.id));
    const won = new Set(winners.map((w) => w.id));
    const describeAdd = (id: string) => JSON.stringify({ add: adds.find((a) => a.id === id), node: nodes.find((n) => n.id === id) });
    assert.deepEqual(nodes.filter((n) => !won.has(n.id)).map((n) => describeAdd(n.id)), [], 'nodes stored by adds that reported failure');
    assert.deepEqual(winners.filter((w) => !stored.has(w.id)).map((w) => describeAdd(w.id)), [], 'adds that reported success but stored nothing');
    for (const node of nodes) {
      const spec = addSpec(Number(node.tags.p), Number(node.tags.i));
      assert.equal(node.name, spec.name);
      assert.deepEqual(node.keys, [`name:${spec.name}`, ...spec.keys].sort(), `node ${node.name} is missing keys or has others`);
      assert.deepEqual(node.definition, { p: Number(node.tags.p), i: Number(node.tags.i) });
    }
    for (const lost of adds.filter((a) => !a.ok)) {
      assert.equal(await registry.find(lost.id), undefined, `losing add ${lost.p}/${lost.i} left a node`);
    }
    const ownedByNodes = nodes.flatMap((n) => n.keys.filter((k) => k.startsWith('test:')));
    assert.equal(new Set(ownedByNodes).size, ownedByNodes.length, 'a key is listed under two nodes');
    assert.deepEqual(await registry.listKeys('test:'), ownedByNodes.sort(), 'a key exists without its node, or a node without its key');
  });

  test('lets exactly one of 8 simultaneous renames take a name', async () => {
    const contested = results.map((r) => r.contested);
    assert.equal(contested.filter((c) => c.ok).length, 1, JSON.stringify(contested));
    const winner = contestants[contested.findIndex((c) => c.ok)]!;
    for (const c of contested.filter((c) => !c.ok)) assert.deepEqual({ error: c.error, key: c.key, ownerId: c.ownerId }, { error: 'KeyConflictError', key: 'name:the-one', ownerId: winner.id });
    assert.equal((await registry.getByName('the-one')).id, winner.id);
    for (const [p, contestant] of contestants.entries()) {
      const node = await registry.get(contestant.id);
      assert.equal(node.name, contested[p]!.ok ? 'the-one' : `contestant-${p}`);
      assert.deepEqual(node.keys, [`name:${node.name}`]);
    }
    const renames = results.flatMap((r) => r.renames);
    assert.deepEqual(renames.filter((x) => !x.ok && x.error !== 'KeyConflictError'), []);
    for (const [p, original] of renamed.entries()) {
      const node = await registry.get(original.id);
      assert.deepEqual(node.keys.filter((k) => k.startsWith('name:')), [`name:${node.name}`], `${node.id} has name keys out of step with its name`);
      assert.equal((await registry.getByName(node.name)).id, node.id);
      // Each successful rename bumped the version once; each refused one not at all.
      assert.equal(node.version, 1 + results[p]!.renames.filter((x) => x.ok).length);
    }
  });

  test('never lets concurrent claims exceed the host allowance', async () => {
    const claims = results.flatMap((r) => r.claims);
    assert.equal(claims.filter((c) => c.ok).length, FREE_CPUS);
    for (const c of claims.filter((c) => !c.ok)) assert.deepEqual({ error: c.error, reasons: c.reasons }, { error: 'NoCapacityError', reasons: { 'full on cpu': 1 } });
    assert.deepEqual(await registry.usage(hostId), { cpus: 10, memoryMiB: 1024 + FREE_CPUS * 256, diskGiB: 10 + FREE_CPUS });
    assert.equal((await registry.children(hostId, 'placeholder')).length, FREE_CPUS);
    const [host] = (await registry.hostSnapshot()).filter((h) => h.id === hostId);
    assert.ok(host!.used.cpus <= host!.allowance.cpus);
  });

  test('allocates distinct, lowest addresses to concurrent provisioners', async () => {
    const allocations = results.flatMap((r) => r.allocations);
    assert.deepEqual(allocations.filter((a) => !a.ok), []);
    const ips = allocations.map((a) => a.ip!);
    const expected = [...hostAddresses(parsePool(IP_POOL))].slice(0, WORKERS * ALLOCATIONS_PER_WORKER);
    assert.deepEqual([...ips].sort(), [...expected].sort());
    for (const a of allocations) assert.equal(a.mac, macForIp(a.ip!));
  });

  test('keeps keys and tags in step with nodes across the whole database', async () => {
    const all = await registry.list();
    const counts = await registry.rowCounts();
    assert.equal(counts.nodes, all.length);
    assert.equal(counts.node_keys, all.reduce((n, node) => n + node.keys.length, 0));
    assert.equal(counts.node_tags, all.reduce((n, node) => n + Object.keys(node.tags).length, 0));
    for (const node of all) assert.ok(node.keys.includes(`name:${node.name}`), `${node.name} lost its name key`);
  });
});
