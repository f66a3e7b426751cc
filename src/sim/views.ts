// What the farm shows of its hosts and VMs: to the drivers (observed containers) and to the admin.
import type { ObservedContainer } from '../drivers/driver';
import { free, load, used, type Host, type Vm } from './model';
import type { SimHostDetail, SimHostView, SimVmView, SimVolumeView } from './protocol';

/** A VM as its host reports it to a driver. */
export function observed(host: Host, vm: Vm): ObservedContainer {
  return {
    name: vm.name,
    uuid: vm.uuid,
    state: vm.state,
    cpus: vm.cpus,
    memoryMiB: vm.memoryMiB,
    diskGiB: vm.diskGiB,
    mac: vm.mac,
    provisioned: host.volumes.has(vm.name),
  };
}

/** A VM as the admin API shows it; `busyWith` is the id of the operation in flight on it. */
export function vmView(host: Host, vm: Vm, busyWith: string | undefined): SimVmView {
  return {
    host: host.id,
    ...observed(host, vm),
    ip: vm.ip,
    image: vm.image,
    configs: Object.fromEntries(vm.configs),
    ignoresShutdown: vm.ignoresShutdown,
    migration: vm.migration,
    busyWith,
  };
}

export function hostView(host: Host): SimHostView {
  const taken = used(host);
  return {
    id: host.id,
    power: host.power,
    capacity: host.capacity,
    free: free(host, taken),
    load: load(host, taken),
    baseLoad: host.baseLoad,
    vmCount: host.vms.size,
    delays: { ...host.delays },
  };
}

export function hostDetail(host: Host, busyWith: (host: Host, vm: Vm) => string | undefined): SimHostDetail {
  return {
    ...hostView(host),
    vms: [...host.vms.values()].map((vm) => vmView(host, vm, busyWith(host, vm))),
    volumes: [...host.volumes].map(([name, v]): SimVolumeView => ({ name, diskGiB: v.diskGiB, image: v.image })),
  };
}
