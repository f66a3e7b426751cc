// Starts the sim farm as a real child process (node --import tsx src/sim/main.ts) on a free
// loopback port with a temporary state folder.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { HostRef } from '../../src/drivers/driver';
import { SimAdmin } from '../../src/sim/admin-client';
import type { HostInit } from '../../src/sim/protocol';

const ROOT = path.resolve(__dirname, '../..');
const MAIN = path.join(ROOT, 'src/sim/main.ts');
const START_TIMEOUT_MS = 30_000;

export interface StartSimOptions {
  readonly hosts?: ReadonlyArray<{ id: string; cpus: number; memoryMiB: number; diskGiB: number }>;
}

export interface TestSim {
  readonly url: string;
  readonly admin: SimAdmin;
  readonly stateDir: string;
  /** `http://127.0.0.1:PORT/hosts/<id>`: a HypervisorDefinition's address. */
  hostAddress(id: string): string;
  /** A HostRef for driver calls, its capacity as the sim knows it (or zero). */
  hostRef(id: string, name?: string): HostRef;
  /** Kills the process (SIGKILL unless told otherwise) and starts it again on the same port and state. */
  restart(options?: { signal?: 'SIGKILL' | 'SIGTERM' }): Promise<void>;
  /** Stops the process and removes its state folder. */
  stop(): Promise<void>;
}

const children = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of children) child.kill('SIGKILL');
});

function launch(port: number, stateDir: string): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', MAIN, '--port', String(port), '--state-dir', stateDir], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  child.once('exit', () => children.delete(child));
  let stderr = '';
  child.stderr!.on('data', (c: Buffer) => {
    stderr += c.toString();
  });
  return new Promise((resolve, reject) => {
    let stdout = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`sim did not start within ${START_TIMEOUT_MS} ms: ${stderr}`));
    }, START_TIMEOUT_MS);
    const onData = (c: Buffer) => {
      stdout += c.toString();
      const nl = stdout.indexOf('\n');
      if (nl < 0) return;
      clearTimeout(timer);
      child.stdout!.off('data', onData);
      child.off('exit', onExit);
      // Keep draining so the child never blocks on a full pipe.
      child.stdout!.resume();
      try {
        resolve({ child, url: (JSON.parse(stdout.slice(0, nl)) as { url: string }).url });
      } catch {
        reject(new Error(`sim printed ${stdout.slice(0, nl)} instead of its URL`));
      }
    };
    const onExit = (code: number | null) => {
      clearTimeout(timer);
      reject(new Error(`sim exited with ${code} before listening: ${stderr}`));
    };
    child.stdout!.on('data', onData);
    child.once('exit', onExit);
  });
}

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

export async function startSim(options: StartSimOptions = {}): Promise<TestSim> {
  const stateDir = mkdtempSync(path.join(tmpdir(), 'vmflow-sim-'));
  let { child, url } = await launch(0, stateDir);
  const port = Number(new URL(url).port);
  const admin = new SimAdmin(url);
  const capacities = new Map<string, { cpus: number; memoryMiB: number; diskGiB: number }>();
  for (const h of options.hosts ?? []) {
    await admin.addHost(h as HostInit);
    capacities.set(h.id, { cpus: h.cpus, memoryMiB: h.memoryMiB, diskGiB: h.diskGiB });
  }
  const hostAddress = (id: string) => admin.hostAddress(id);
  return {
    url,
    admin,
    stateDir,
    hostAddress,
    hostRef(id, name = id) {
      return {
        id,
        name,
        definition: {
          driver: 'sim',
          address: hostAddress(id),
          capacity: capacities.get(id) ?? { cpus: 0, memoryMiB: 0, diskGiB: 0 },
        },
      };
    },
    async restart({ signal = 'SIGKILL' } = {}) {
      child.kill(signal);
      await exited(child);
      ({ child, url } = await launch(port, stateDir));
    },
    async stop() {
      child.kill('SIGTERM');
      await exited(child);
      rmSync(stateDir, { recursive: true, force: true });
    },
  };
}
