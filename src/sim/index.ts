// The simulated hypervisor farm: many hosts behind one loopback HTTP port, state kept on disk.
import { mkdirSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { Farm } from './farm';
import type { SimDefaults } from './protocol';
import { createSimServer } from './server';
import { StateFile } from './state-file';

export { SimAdmin, SimAdminError } from './admin-client';
export type * from './protocol';
export { hostIdOf, SIM_OPERATIONS } from './protocol';

export interface SimOptions {
  /** 0 picks a free port. */
  readonly port: number;
  readonly host?: '127.0.0.1';
  /** Folder of the state file, created when missing. */
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

export const STATE_FILE = 'sim-state.json';

export async function runSim(options: SimOptions): Promise<RunningSim> {
  mkdirSync(options.stateDir, { recursive: true });
  // The file needs the farm's snapshot and the farm needs the file: tie them after both exist.
  let farm: Farm | undefined;
  const file = new StateFile(path.join(options.stateDir, STATE_FILE), () => farm!.snapshot());
  farm = new Farm(file);
  const saved = file.load();
  if (saved !== undefined) farm.restore(saved);
  if (options.defaults) farm.applyDefaults(options.defaults);
  await file.save();

  const server = createSimServer(farm);
  const host = options.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const url = `http://${host}:${(server.address() as AddressInfo).port}`;
  farm.origin = url;

  let closing: Promise<void> | undefined;
  const running = farm;
  return {
    url,
    close() {
      closing ??= (async () => {
        const closed = new Promise<void>((resolve) => server.close(() => resolve()));
        await running.shutdown();
        server.closeAllConnections();
        await closed;
      })();
      return closing;
    },
  };
}
