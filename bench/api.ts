// API benchmark, with a loopback load generator in this process and the worker in its own:
//   1. reads: GET /v1/containers (the first page of 100, a deep page of 100 by its pageToken, a
//      page of 1,000) and GET /v1/containers/<name> with 100,000 containers in the registry
//      (SQLite, or a throwaway MariaDB with BENCH_DATABASE=mariadb), written straight into its
//      tables in batches. The first page, the deep pages and the same deep pages without HTTP are
//      measured in turn within one loop, so that all three see the same load on a shared machine,
//      with the CPU time this process spent on each (API and load generator both);
//   2. command submissions: POST /v1/containers/<name>/start against stopped containers (their
//      VMs put on the sim farm first), counting 202s — acceptance by Temporal, not completion —
//      then how long the worker takes to finish them.
// Run: npx tsx bench/api.ts
//   BENCH_CONTAINERS (100000), BENCH_READ_SECONDS (8), BENCH_CONCURRENCY (16), BENCH_SUBMISSIONS (400; 0 skips part 2),
//   BENCH_DATABASE (sqlite or mariadb)
import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { setMaxListeners } from 'node:events';
import { printTable } from '../src/cli/output';
import type { SqlRegistry } from '../src/registry';
import { startApi } from '../test/api/support';
import { startMariaDb, type MariaDb } from '../test/support/mariadb';
import { startStack } from '../test/support/stack';

const CONTAINERS = Number(process.env.BENCH_CONTAINERS ?? 100_000);
const READ_SECONDS = Number(process.env.BENCH_READ_SECONDS ?? 8);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 16);
const SUBMISSIONS = Math.min(Number(process.env.BENCH_SUBMISSIONS ?? 400), CONTAINERS);
const HOSTS = ['hv-1', 'hv-2', 'hv-3', 'hv-4'];
const DATABASE = process.env.BENCH_DATABASE ?? 'sqlite';

interface Result {
  readonly name: string;
  readonly requests: number;
  readonly ok: number;
  readonly seconds: number;
  readonly p50: number;
  readonly p95: number;
  readonly p99: number;
  readonly max: number;
  /** CPU milliseconds this process spent per request (measured only one request at a time). */
  readonly cpu?: number;
}

function quantile(sorted: number[], q: number): number {
  return sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]! : NaN;
}

/**
 * Runs `request(i)` from `concurrency` loops until `count` requests were sent or `seconds` passed;
 * a request is ok when it answers `expect`.
 */
async function load(name: string, options: { concurrency: number; seconds?: number; count?: number; expect: number }, request: (i: number) => Promise<number>): Promise<Result> {
  const latencies: number[] = [];
  let next = 0;
  let ok = 0;
  const failures = new Map<number, number>();
  const started = performance.now();
  const deadline = options.seconds ? started + options.seconds * 1000 : Infinity;
  const loop = async () => {
    for (;;) {
      const i = next++;
      if ((options.count !== undefined && i >= options.count) || performance.now() > deadline) return;
      const t0 = performance.now();
      const status = await request(i).catch(() => 0);
      latencies.push(performance.now() - t0);
      if (status === options.expect) ok++;
      else failures.set(status, (failures.get(status) ?? 0) + 1);
    }
  };
  await Promise.all(Array.from({ length: options.concurrency }, loop));
  const seconds = (performance.now() - started) / 1000;
  if (failures.size) console.error(`${name}: unexpected statuses ${JSON.stringify(Object.fromEntries(failures))}`);
  latencies.sort((a, b) => a - b);
  return { name, requests: latencies.length, ok, seconds, p50: quantile(latencies, 0.5), p95: quantile(latencies, 0.95), p99: quantile(latencies, 0.99), max: latencies[latencies.length - 1] ?? NaN };
}

/**
 * One request at a time for `seconds`, taking the kinds in turn: each kind's latencies and the CPU
 * time this process spent on it, all under the same load.
 */
async function inTurn(seconds: number, kinds: Record<string, (i: number) => Promise<number>>): Promise<Result[]> {
  const names = Object.keys(kinds);
  const stats = new Map(names.map((n) => [n, { latencies: [] as number[], cpu: 0, ok: 0 }]));
  const started = performance.now();
  for (let i = 0; performance.now() - started < seconds * 1000; i++) {
    for (const name of names) {
      const s = stats.get(name)!;
      const c0 = process.cpuUsage();
      const t0 = performance.now();
      const status = await kinds[name]!(i).catch(() => 0);
      s.latencies.push(performance.now() - t0);
      const c = process.cpuUsage(c0);
      s.cpu += (c.user + c.system) / 1000;
      if (status === 200) s.ok++;
    }
  }
  const elapsed = (performance.now() - started) / 1000;
  return names.map((name) => {
    const { latencies, cpu, ok } = stats.get(name)!;
    if (ok !== latencies.length) console.error(`${name}: ${latencies.length - ok} requests failed`);
    latencies.sort((a, b) => a - b);
    return { name, requests: latencies.length, ok, seconds: elapsed / names.length, p50: quantile(latencies, 0.5), p95: quantile(latencies, 0.95), p99: quantile(latencies, 0.99), max: latencies[latencies.length - 1] ?? NaN, cpu: cpu / latencies.length };
  });
}

function loadAverage(): string {
  return (require('node:os').loadavg() as number[]).map((x) => x.toFixed(2)).join(' ');
}

const COLUMNS = ['REQUEST', 'REQUESTS', 'OK', 'PER SECOND', 'P50 MS', 'P95 MS', 'P99 MS', 'MAX MS', 'CPU MS'];
const row = (r: Result) => [r.name, r.requests, r.ok, (r.ok / r.seconds).toFixed(1), r.p50.toFixed(1), r.p95.toFixed(1), r.p99.toFixed(1), r.max.toFixed(1), r.cpu === undefined ? '' : r.cpu.toFixed(2)];

async function main(): Promise<void> {
  const t0 = performance.now();
  let mariadb: MariaDb | undefined;
  if (DATABASE === 'mariadb') {
    console.error('starting a throwaway MariaDB ...');
    mariadb = await startMariaDb();
    if (!mariadb) throw new Error('BENCH_DATABASE=mariadb: no MariaDB here (install mariadb-server, or set MYSQL_URL)');
  } else if (DATABASE !== 'sqlite') throw new Error(`BENCH_DATABASE must be sqlite or mariadb, not ${JSON.stringify(DATABASE)}`);
  console.error('starting Temporal dev server, sim farm and a worker process ...');
  const stack = await startStack({
    ...(mariadb ? { registryUrl: mariadb.url } : {}),
    workerProcess: true,
    hosts: HOSTS.map((name) => ({ name, cpus: 1024, memoryMiB: 16_777_216, diskGiB: 1_048_576 })),
  }).catch(async (err) => {
    await mariadb?.stop();
    throw err;
  });
  const api = await startApi(stack, { VMFLOW_LOG_LEVEL: 'warn' });
  setMaxListeners(0);
  try {
    const registry = stack.services.registry;
    const hosts = await Promise.all(HOSTS.map((h) => stack.client.hypervisors.get(h)));
    console.error(`inserting ${CONTAINERS} stopped containers into the registry's tables ...`);
    const insertStart = performance.now();
    const now = new Date().toISOString();
    for (let from = 0; from < CONTAINERS; from += 500) {
      const nodes: unknown[] = [];
      const keys: unknown[] = [];
      const to = Math.min(CONTAINERS, from + 500);
      for (let i = from; i < to; i++) {
        const ip = `10.${100 + Math.floor(i / 65536)}.${Math.floor(i / 256) % 256}.${i % 256}`;
        const mac = `02:01:${(100 + Math.floor(i / 65536)).toString(16).padStart(2, '0')}:${(Math.floor(i / 256) % 256).toString(16).padStart(2, '0')}:${(i % 256).toString(16).padStart(2, '0')}:00`;
        const id = randomUUID();
        const definition = JSON.stringify({ kind: 'generic', cpus: 1, memoryMiB: 256, diskGiB: 1, network: { ip, mac } });
        nodes.push(id, 'container', `b${i}`, definition, 'stopped', '{}', hosts[i % hosts.length]!.id, 1, now, now, 1, 256, 1);
        keys.push(`name:b${i}`, id, `ip:${ip}`, id, `mac:${mac}`, id);
      }
      await (registry as SqlRegistry).dataSource.transaction(async (m) => {
        const rows = to - from;
        await m.query(
          `INSERT INTO \`nodes\` (\`id\`, \`type\`, \`name\`, \`definition\`, \`state\`, \`metadata\`, \`parent_id\`, \`version\`, \`created_at\`, \`updated_at\`, \`res_cpus\`, \`res_memory_mib\`, \`res_disk_gib\`) VALUES ${Array(rows).fill('(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)').join(', ')}`,
          nodes,
        );
        await m.query(`INSERT INTO \`node_keys\` (\`key\`, \`node_id\`) VALUES ${Array(rows * 3).fill('(?, ?)').join(', ')}`, keys);
      });
    }
    const insertSeconds = (performance.now() - insertStart) / 1000;
    console.error(`inserted in ${insertSeconds.toFixed(1)} s; total containers: ${await registry.count({ type: 'container' })}`);

    const get = (path: string) => async () => (await api.request('GET', path, { token: api.tokens.viewer })).status;
    const results: Result[] = [];
    await load('warm-up', { concurrency: 4, count: 200, expect: 200 }, get('/v1/containers'));
    // Page tokens of pages spread over the whole list, collected by walking it once.
    const tokens: string[] = [];
    for (let token: string | undefined, page = 0; ; page++) {
      const r = await api.request('GET', `/v1/containers?limit=1000${token ? `&pageToken=${encodeURIComponent(token)}` : ''}`, { token: api.tokens.viewer });
      token = r.json.nextPageToken;
      if (!token) break;
      tokens.push(token);
    }
    const deep = (i: number) => tokens[(i * 7919) % tokens.length]!;
    const deepPage = (i: number) => get(`/v1/containers?limit=100&pageToken=${encodeURIComponent(deep(i))}`)();
    results.push(
      ...(await inTurn(READ_SECONDS * 2, {
        'GET /v1/containers?limit=100 (first page)': get('/v1/containers?limit=100'),
        'GET /v1/containers?limit=100&pageToken= (deep pages)': deepPage,
        '  containers.page, the same deep pages, no HTTP': async (i) => ((await stack.client.containers.page({ limit: 100, pageToken: deep(i) })).items.length === 100 ? 200 : 500),
      })),
    );
    results.push(await load('  deep pages, 16 clients at once', { concurrency: CONCURRENCY, seconds: READ_SECONDS, expect: 200 }, deepPage));
    results.push(await load('GET /v1/containers?limit=1000 (deep pages)', { concurrency: CONCURRENCY, seconds: READ_SECONDS, expect: 200 }, (i) => get(`/v1/containers?limit=1000&pageToken=${encodeURIComponent(deep(i))}`)()));
    results.push(await load('GET /v1/containers/<name>', { concurrency: CONCURRENCY, seconds: READ_SECONDS, expect: 200 }, (i) => get(`/v1/containers/b${(i * 7919) % CONTAINERS}`)()));

    if (SUBMISSIONS === 0) {
      console.log(`\nvmflow API benchmark: ${CONTAINERS} containers in a ${DATABASE === 'mariadb' ? 'MariaDB' : 'SQLite'} registry (written in ${insertSeconds.toFixed(1)} s), reads only\n`);
      printTable(COLUMNS, results.map(row));
      console.log(`\nload average (1/5/15 min): ${loadAverage()}; target: a page of 100 at ≤ 20 ms p50`);
      return;
    }
    // The VMs the starts will find on the sim: stopped, defined and provisioned.
    console.error(`putting ${2 * SUBMISSIONS} stopped VMs on the sim farm ...`);
    for (let i = 0; i < 2 * SUBMISSIONS; i++) {
      const node = await registry.getByName(`b${i}`);
      await stack.sim.admin.addVm(HOSTS[i % HOSTS.length]!, { name: node.name, state: 'stopped', cpus: 1, memoryMiB: 256, diskGiB: 1, mac: node.definition.network.mac, provisioned: true });
    }
    const submitStart = performance.now();
    const accepted: string[] = [];
    const submit = await load('POST /v1/containers/<name>/start (202)', { concurrency: CONCURRENCY, count: SUBMISSIONS, expect: 202 }, async (i) => {
      const r = await api.request('POST', `/v1/containers/b${i}/start`, { token: api.tokens.operator, body: {} });
      if (r.status === 202) accepted.push(r.json.href);
      return r.status;
    });
    results.push(submit);
    const waitFor = async (count: number, since: number) => {
      for (;;) {
        const running = await registry.count({ type: 'container', state: 'running' });
        if (running >= count || performance.now() - since > 300_000) return { running, seconds: (performance.now() - since) / 1000 };
        await new Promise((r) => setTimeout(r, 250));
      }
    };
    console.error(`waiting for the ${accepted.length} starts to finish ...`);
    const drained = await waitFor(accepted.length, submitStart);
    // The same submissions through the TypeScript client, without HTTP: the API's share of the cost.
    const direct = await load('  client.containers.start, no HTTP', { concurrency: CONCURRENCY, count: SUBMISSIONS, expect: 202 }, async (i) => {
      await stack.client.containers.start(`b${SUBMISSIONS + i}`);
      return 202;
    });
    results.push(direct);
    const directDrained = await waitFor(accepted.length + SUBMISSIONS, submitStart);

    // Command lists page by Temporal visibility's own token: the first page and deep ones.
    const commandTokens: string[] = [];
    for (let token: string | undefined; ; ) {
      const page = await stack.client.commands.page({ pageSize: 100, ...(token ? { pageToken: token } : {}) });
      token = page.nextPageToken;
      if (!token) break;
      commandTokens.push(token);
    }
    // Visibility hands out a token after a full last page: the page it leads to is empty, and fine.
    const commandPage = (token?: string) => async () => (await stack.client.commands.page({ pageSize: 100, ...(token ? { pageToken: token } : {}) }), 200);
    results.push(await load('commands.page, first page of 100 (visibility)', { concurrency: 1, seconds: READ_SECONDS / 2, expect: 200 }, commandPage()));
    if (commandTokens.length)
      results.push(await load(`commands.page, deep pages of 100 by nextPageToken (${commandTokens.length + 1} pages)`, { concurrency: 1, seconds: READ_SECONDS / 2, expect: 200 }, (i) => commandPage(commandTokens[(i * 7919) % commandTokens.length])()));
    results.push(await load('GET /v1/commands?limit=100 (first page)', { concurrency: 1, seconds: READ_SECONDS / 2, expect: 200 }, get('/v1/commands?limit=100')));
    if (commandTokens.length)
      results.push(await load('GET /v1/commands?limit=100&pageToken= (deep pages)', { concurrency: 1, seconds: READ_SECONDS / 2, expect: 200 }, (i) => get(`/v1/commands?limit=100&pageToken=${encodeURIComponent(commandTokens[(i * 7919) % commandTokens.length]!)}`)()));

    console.log(`\nvmflow API benchmark: ${CONTAINERS} containers in a ${DATABASE === 'mariadb' ? 'MariaDB' : 'SQLite'} registry, ${CONCURRENCY} concurrent loopback clients, worker in its own process, ${process.env.BENCH_CPUS ?? require('node:os').cpus().length} cores\n`);
    printTable(COLUMNS, results.map(row));
    console.log(`\nthe ${accepted.length} starts through the API were all running ${drained.seconds.toFixed(1)} s after the first submission (${(drained.running / drained.seconds).toFixed(1)} completed/s end to end); with the ${SUBMISSIONS} direct ones, ${directDrained.running} after ${directDrained.seconds.toFixed(1)} s`);
    const metrics = (await api.request('GET', '/metrics', { token: api.tokens.viewer })).text;
    const started = metrics.split('\n').find((l) => l.startsWith('vmflow_api_commands_submitted_total{command="start"'));
    console.log(`\n/metrics: ${started}`);
    console.log(`inserting ${CONTAINERS} containers through the registry took ${insertSeconds.toFixed(1)} s; whole run ${((performance.now() - t0) / 1000).toFixed(0)} s`);
    console.log(`load average (1/5/15 min): ${loadAverage()}; target: a page of 100 at ≤ 20 ms p50`);
  } finally {
    await api.close();
    await stack.stop();
    await mariadb?.stop();
  }
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
