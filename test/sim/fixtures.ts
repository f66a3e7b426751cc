// Small builders shared by the sim tests.
import type { ContainerSpec, Driver, HostRef } from '../../src/drivers/driver';
import type { TestSim } from '../support/sim';

export interface Size {
  cpus?: number;
  memoryMiB?: number;
  diskGiB?: number;
}

let seq = 0;

export function containerSpec(name: string, size: Size = {}): ContainerSpec {
  return {
    id: `id-${name}`,
    name,
    definition: {
      kind: 'generic',
      cpus: size.cpus ?? 1,
      memoryMiB: size.memoryMiB ?? 1024,
      diskGiB: size.diskGiB ?? 10,
      network: { ip: '10.0.0.5', mac: '02:00:0a:00:00:05' },
      image: 'debian-12',
    },
  };
}

/** Adds `count` hosts with fresh ids to the sim, so tests sharing one sim never see each other. */
export async function addHosts(sim: TestSim, count: number, size: Size = {}): Promise<HostRef[]> {
  const capacity = { cpus: size.cpus ?? 8, memoryMiB: size.memoryMiB ?? 8192, diskGiB: size.diskGiB ?? 100 };
  const refs: HostRef[] = [];
  for (let i = 0; i < count; i++) {
    const id = `hv-${process.pid}-${++seq}`;
    await sim.admin.addHost({ id, ...capacity });
    refs.push({ id, name: `host-${seq}`, definition: { driver: 'sim', address: sim.hostAddress(id), capacity } });
  }
  return refs;
}

/** Defines, provisions and (unless told otherwise) starts a container. */
export async function deploy(
  driver: Driver,
  host: HostRef,
  spec: ContainerSpec,
  state: 'defined' | 'stopped' | 'running' | 'suspended' = 'running',
): Promise<void> {
  await driver.define(host, spec);
  if (state === 'defined') return;
  await driver.provision(host, spec);
  if (state === 'stopped') {
    await driver.start(host, spec.name);
    await driver.stop(host, spec.name);
    return;
  }
  await driver.start(host, spec.name);
  if (state === 'suspended') await driver.suspend(host, spec.name);
}
