// Registry benchmark: unique-key adds per second from 8 concurrent writer processes, then lookups
// by key per second, on MariaDB (a throwaway server, or MYSQL_URL). `--sqlite` benchmarks a
// SQLite file instead. Run: npx tsx bench/registry.ts [--sqlite]
//   BENCH_WRITERS (8), BENCH_ADDS (1000 per writer), BENCH_LOOKUP_SECONDS (5), BENCH_LOOKUP_CONCURRENCY (8)
// The same file is the writer: `bench/registry.ts --writer <url> <index> <count>`.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { openRegistry } from '../src/registry';
import { startMariaDb } from '../test/support/mariadb';

const WRITERS = Number(process.env.BENCH_WRITERS ?? 8);
const ADDS = Number(process.env.BENCH_ADDS ?? 1000);
const LOOKUP_SECONDS = Number(process.env.BENCH_LOOKUP_SECONDS ?? 5);
const LOOKUP_CONCURRENCY = Number(process.env.BENCH_LOOKUP_CONCURRENCY ?? 8);

/** The address of writer w's item i: unique across writers, as ip and mac keys. */
function ipOf(w: number, i: number): string {
  const n = w * 1_000_000 + i;
  return `10.${Math.floor(n / 65536) % 256}.${Math.floor(n / 256) % 256}.${n % 256}`;
}

async function writer(url: string, w: number, count: number): Promise<void> {
  const registry = await openRegistry({ url, migrate: false, poolSize: 2 });
  const lines = createInterface({ input: process.stdin });
  const go = new Promise<void>((resolve) => lines.on('line', (l) => l.trim() === 'go' && resolve()));
  process.stdout.write('ready\n');
  await go;
  lines.close();
  const started = process.hrtime.bigint();
  for (let i = 0; i < count; i++) {
    const ip = ipOf(w, i);
    await registry.add({
      type: 'container',
      name: `bench-${w}-${i}`,
      definition: { kind: 'generic', cpus: 1, memoryMiB: 256, diskGiB: 1, network: { ip, mac: `02:00:00:00:${w.toString(16).padStart(2, '0')}:${(i % 256).toString(16).padStart(2, '0')}` } },
      state: 'new',
      tags: { bench: 'registry' },
      keys: [`ip:${ip}`, `bench:${w}-${i}`],
    });
  }
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  process.stdout.write(`${JSON.stringify({ writer: w, adds: count, ms })}\n`);
  await registry.close();
}

interface WriterReport {
  readonly writer: number;
  readonly adds: number;
  readonly ms: number;
}

async function runWriters(url: string): Promise<{ wallMs: number; reports: WriterReport[] }> {
  const children = Array.from({ length: WRITERS }, (_, w) => {
    const child = spawn(process.execPath, ['--import', 'tsx', __filename, '--writer', url, String(w), String(ADDS)], {
      cwd: path.resolve(__dirname, '..'),
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    const ready = new Promise<void>((resolve, reject) => {
      child.stdout.on('data', () => out.startsWith('ready\n') && resolve());
      child.once('exit', (code) => reject(new Error(`writer ${w} exited (${code}) before it was ready`)));
    });
    const done = new Promise<WriterReport>((resolve, reject) =>
      child.once('exit', (code) => (code === 0 ? resolve(JSON.parse(out.trim().split('\n').pop()!)) : reject(new Error(`writer ${w} failed (${code})`)))),
    );
    ready.catch(() => undefined);
    return { child, ready, done };
  });
  await Promise.all(children.map((c) => c.ready));
  const started = process.hrtime.bigint();
  for (const c of children) c.child.stdin.end('go\n');
  const reports = await Promise.all(children.map((c) => c.done));
  return { wallMs: Number(process.hrtime.bigint() - started) / 1e6, reports };
}

async function lookups(url: string, nodeCount: number): Promise<{ perSecond: number; total: number; p50: number; p99: number }> {
  const registry = await openRegistry({ url, migrate: false, poolSize: LOOKUP_CONCURRENCY });
  const deadline = Date.now() + LOOKUP_SECONDS * 1000;
  const latencies: number[] = [];
  let misses = 0;
  const worker = async (seed: number) => {
    let s = seed;
    while (Date.now() < deadline) {
      s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
      const w = s % WRITERS;
      const i = Math.floor(s / WRITERS) % ADDS;
      const t = process.hrtime.bigint();
      const node = await registry.findByKey(`ip:${ipOf(w, i)}`);
      latencies.push(Number(process.hrtime.bigint() - t) / 1e6);
      if (!node) misses++;
    }
  };
  const started = process.hrtime.bigint();
  await Promise.all(Array.from({ length: LOOKUP_CONCURRENCY }, (_, k) => worker(k + 1)));
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  await registry.close();
  if (misses) throw new Error(`${misses} lookups missed among ${nodeCount} nodes`);
  latencies.sort((a, b) => a - b);
  const at = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))]!;
  return { perSecond: latencies.length / seconds, total: latencies.length, p50: at(0.5), p99: at(0.99) };
}

async function main(): Promise<void> {
  const useSqlite = process.argv.includes('--sqlite');
  let url: string;
  let stop: () => Promise<void>;
  if (useSqlite) {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'vmflow-bench-'));
    url = `sqlite:${path.join(dir, 'registry.db')}`;
    stop = async () => rmSync(dir, { recursive: true, force: true });
  } else {
    const server = await startMariaDb();
    if (!server) throw new Error('no MariaDB found: install mariadb-server or set MYSQL_URL (or run with --sqlite)');
    url = server.url;
    stop = () => server.stop();
  }
  try {
    const registry = await openRegistry({ url });
    await registry.close();
    const { wallMs, reports } = await runWriters(url);
    const check = await openRegistry({ url, migrate: false });
    const nodes = await check.count();
    const keys = (await check.rowCounts()).node_keys;
    await check.close();
    const expected = WRITERS * ADDS;
    if (nodes !== expected) throw new Error(`expected ${expected} nodes, found ${nodes}`);
    const slowest = Math.max(...reports.map((r) => r.ms));
    const look = await lookups(url, nodes);
    const db = useSqlite ? 'SQLite (WAL, file)' : `MariaDB${process.env.MYSQL_URL ? ' (MYSQL_URL)' : ' (throwaway mariadbd)'}`;
    console.log(`registry benchmark on ${db}, ${os.cpus().length} cpus`);
    console.log(`  adds:    ${expected} nodes (${keys} unique keys) by ${WRITERS} writer processes in ${(wallMs / 1000).toFixed(2)} s` +
      ` = ${Math.round(expected / (wallMs / 1000))} adds/s (slowest writer ${(slowest / 1000).toFixed(2)} s)`);
    console.log(`  lookups: ${look.total} findByKey over ${nodes} nodes, ${LOOKUP_CONCURRENCY} concurrent in one process, ${LOOKUP_SECONDS} s` +
      ` = ${Math.round(look.perSecond)} lookups/s (p50 ${look.p50.toFixed(2)} ms, p99 ${look.p99.toFixed(2)} ms)`);
  } finally {
    await stop();
  }
}

if (process.argv[2] === '--writer') {
  writer(process.argv[3]!, Number(process.argv[4]), Number(process.argv[5])).then(
    () => process.exit(0),
    (err) => {
      console.error(err);
      process.exit(1);
    },
  );
} else {
  main().catch((err) => {
    console.error(err);
    process.exit(1);
  });
}
