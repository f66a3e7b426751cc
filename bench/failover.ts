// Time from a host crash to every one of its `restart` containers running on another host, on the
// controller as `npm start` runs it (Temporal dev server, the monitor on its schedule, worker, API,
// sim), once with the default monitor schedule and once with a short one. Only the API and the
// sim's admin port are used from here, as an operator and a power cut would.
// Usage: npm run bench:failover [-- CONTAINERS]
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import getPort from 'get-port';
import { ApiClient } from '../src/cli/api-client';
import { SimAdmin } from '../src/sim/admin-client';

const CONTAINERS = Number(process.argv[2] ?? 8);
const ROOT = path.resolve(__dirname, '..');
const HOST = 'hv-3';

interface Schedule {
  readonly label: string;
  readonly intervalSeconds?: number;
  readonly downAfter?: number;
}

interface Controller {
  readonly api: ApiClient;
  readonly sim: SimAdmin;
  stop(): Promise<void>;
}

async function startController(schedule: Schedule): Promise<Controller> {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'vmflow-bench-failover-'));
  const [temporalPort, uiPort, apiPort, simPort] = await Promise.all([getPort(), getPort(), getPort(), getPort()]);
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    VMFLOW_DATA_DIR: dataDir,
    VMFLOW_TEMPORAL_ADDRESS: `127.0.0.1:${temporalPort}`,
    VMFLOW_WEB_UI_URL: `http://127.0.0.1:${uiPort}`,
    VMFLOW_API_PORT: String(apiPort),
    VMFLOW_SIM_PORT: String(simPort),
    VMFLOW_LOG_LEVEL: 'warn',
  };
  for (const key of ['VMFLOW_MONITOR_INTERVAL', 'VMFLOW_DOWN_AFTER']) delete env[key];
  if (schedule.intervalSeconds) env.VMFLOW_MONITOR_INTERVAL = String(schedule.intervalSeconds);
  if (schedule.downAfter) env.VMFLOW_DOWN_AFTER = String(schedule.downAfter);
  const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'src', 'cli', 'main.ts'), 'dev'], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d) => {
      out += d.toString();
      if (out.includes('Ctrl-C stops everything')) resolve();
    });
    child.once('exit', (code) => reject(new Error(`the controller exited with ${code}:\n${out}`)));
  });
  const token = readFileSync(path.join(dataDir, 'admin-token'), 'utf8').trim();
  return {
    api: new ApiClient(`http://127.0.0.1:${apiPort}`, token),
    sim: new SimAdmin(`http://127.0.0.1:${simPort}`),
    async stop() {
      child.kill('SIGINT');
      await new Promise((r) => child.once('exit', r));
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

interface ContainerView {
  readonly name: string;
  readonly state: string;
  readonly parent: { readonly name: string } | null;
}

async function until<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function measure(schedule: Schedule): Promise<{ detectSeconds: number; allSeconds: number; firstSeconds: number }> {
  const controller = await startController(schedule);
  try {
    const { api, sim } = controller;
    const names = Array.from({ length: CONTAINERS }, (_, i) => `ha-${i + 1}`);
    for (const name of names) await api.post('/v1/containers', { name, definition: { kind: 'generic', cpus: 1, memoryMiB: 512, diskGiB: 5 }, hint: HOST });
    await until('the containers to run', 120_000, async () => {
      const all = await Promise.all(names.map((n) => api.get<ContainerView>(`/v1/containers/${n}`)));
      return all.every((c) => c.state === 'running') ? true : undefined;
    });
    const crashedAt = Date.now();
    await sim.crash(HOST);
    let detectSeconds = 0;
    let firstSeconds = 0;
    await until('every container to run elsewhere', 600_000, async () => {
      if (!detectSeconds && (await api.get<{ state: string }>(`/v1/hypervisors/${HOST}`)).state === 'down') detectSeconds = (Date.now() - crashedAt) / 1000;
      const all = await Promise.all(names.map((n) => api.get<ContainerView>(`/v1/containers/${n}`)));
      const back = all.filter((c) => c.state === 'running' && c.parent && c.parent.name !== HOST).length;
      if (back && !firstSeconds) firstSeconds = (Date.now() - crashedAt) / 1000;
      return back === names.length ? true : undefined;
    });
    return { detectSeconds, firstSeconds, allSeconds: (Date.now() - crashedAt) / 1000 };
  } finally {
    await controller.stop();
  }
}

async function main(): Promise<void> {
  const schedules: Schedule[] = [
    { label: 'default (every 15 s, down after 3)' },
    { label: 'short (every 2 s, down after 3)', intervalSeconds: 2, downAfter: 3 },
  ];
  const rows: string[] = [];
  for (const schedule of schedules) {
    const r = await measure(schedule);
    rows.push(`${schedule.label.padEnd(36)} ${r.detectSeconds.toFixed(1).padStart(8)} ${r.firstSeconds.toFixed(1).padStart(8)} ${r.allSeconds.toFixed(1).padStart(8)}`);
  }
  console.log(`\nfailover of ${CONTAINERS} containers from a crashed host (seconds after the crash; load ${os.loadavg()[0]!.toFixed(2)})`);
  console.log(`${'monitor schedule'.padEnd(36)} ${'down'.padStart(8)} ${'first up'.padStart(8)} ${'all up'.padStart(8)}`);
  for (const row of rows) console.log(row);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
