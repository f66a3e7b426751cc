// The simulated hypervisor farm: many hosts behind one loopback HTTP port, state kept on disk.
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { Farm } from './farm';
import type { SimDefaults } from './protocol';
import { createSimServer } from './server';
import { replayedState } from './saved-state';
import { SNAPSHOT_FILE, StateStore } from './state-file';

export { SimAdmin, SimAdminError } from './admin-client';
export type * from './protocol';
export { hostIdOf, SIM_OPERATIONS } from './protocol';

export interface SimOptions {
  /** 0 picks a free port. */
  readonly port: number;
  readonly host?: '127.0.0.1';
  /** Folder of the state (snapshot and journal, see state-file.ts), created when missing. */
  readonly stateDir: string;
  /** Hosts, delays and failure rules to start with; hosts already in the saved state are kept as they are. */
  readonly defaults?: SimDefaults;
}

export interface RunningSim {
  /** `http://127.0.0.1:PORT`; a host's address is `${url}/hosts/${id}`. */
  readonly url: string;
  /** Stops answering, rolls back operations in flight and saves. */
  close(): Promise<void>;
}

export const STATE_FILE = SNAPSHOT_FILE;
const LOCK_FILE = 'sim.lock';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Two sims writing one state file would lose each other's changes: one folder, one live process. */
const lockedHere = new Set<string>();

function lockStateDir(dir: string): () => void {
  const lock = path.resolve(dir, LOCK_FILE);
  if (lockedHere.has(lock)) throw new Error(`a sim in this process already uses ${dir}`);
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      writeFileSync(lock, String(process.pid), { flag: 'wx' });
      lockedHere.add(lock);
      return () => {
        lockedHere.delete(lock);
        rmSync(lock, { force: true });
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const pid = Number(readFileSync(lock, 'utf8'));
      if (pid > 0 && pid !== process.pid && alive(pid)) {
        throw new Error(`another sim (pid ${pid}) is using ${dir}; stop it or choose another state folder`);
      }
      rmSync(lock, { force: true }); // left by a sim that was killed
    }
  }
  throw new Error(`could not lock ${dir}`);
}

export async function runSim(options: SimOptions): Promise<RunningSim> {
  mkdirSync(options.stateDir, { recursive: true });
  const unlock = lockStateDir(options.stateDir);
  try {
    return await serve(options, unlock);
  } catch (err) {
    unlock();
    throw err;
  }
}

async function serve(options: SimOptions, unlock: () => void): Promise<RunningSim> {
  const store = new StateStore(options.stateDir);
  const farm = new Farm(store);
  const saved = store.load();
  if (saved !== undefined) farm.restore(replayedState(saved));
  if (options.defaults) farm.applyDefaults(options.defaults, saved === undefined);
  await store.open(farm);

  const app = createSimServer(farm);
  const host = options.host ?? '127.0.0.1';
  await app.listen({ port: options.port, host });
  const url = `http://${host}:${(app.server.address() as AddressInfo).port}`;
  farm.origin = url;

  let closing: Promise<void> | undefined;
  const running = farm;
  return {
    url,
    close() {
      closing ??= (async () => {
        const closed = app.close();
        await running.shutdown();
        app.server.closeAllConnections();
        await closed;
        await store.close();
        unlock();
      })();
      return closing;
    },
  };
}
