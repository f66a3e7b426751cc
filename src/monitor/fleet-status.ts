// Asking many hosts for their status at once. A driver that can answer for many hosts in one call
// (the sim farm, as a fleet of agents answering in parallel would) is asked once per batch; any
// other driver is asked host by host, all at once. Either way each host is bounded by the poll
// timeout on its own, so a slow or silent host costs the others nothing.
import type { Driver, DriverContext, DriverRegistry, HostRef, HostStatus } from '../drivers/driver';

/** A driver that answers for many hosts in one call: a status or an error in each host's place. */
export interface FleetStatusDriver {
  hostStatuses(hosts: readonly HostRef[], ctx?: DriverContext & { timeoutMs?: number }): Promise<Array<HostStatus | Error>>;
}

function answersForMany(driver: Driver): driver is Driver & FleetStatusDriver {
  return typeof (driver as Partial<FleetStatusDriver>).hostStatuses === 'function';
}

export type StatusAnswer = { readonly status: HostStatus; readonly error?: undefined } | { readonly error: string; readonly status?: undefined };

const message = (err: unknown) => (err instanceof Error ? err.message : String(err));

/** Every host's status (or why it gave none), in the order given. */
export async function hostStatuses(drivers: DriverRegistry, hosts: readonly HostRef[], timeoutMs: number): Promise<StatusAnswer[]> {
  const out: StatusAnswer[] = new Array(hosts.length);
  const byDriver = new Map<Driver, number[]>();
  hosts.forEach((h, i) => {
    try {
      const driver = drivers.forHost(h);
      byDriver.set(driver, [...(byDriver.get(driver) ?? []), i]);
    } catch (err) {
      out[i] = { error: message(err) };
    }
  });
  const ctx = (): DriverContext => ({ progress: () => undefined, signal: AbortSignal.timeout(timeoutMs) });
  await Promise.all(
    [...byDriver].map(async ([driver, indexes]) => {
      if (answersForMany(driver)) {
        // The farm bounds each host by the timeout; the request itself gets a little longer.
        const answers = await driver
          .hostStatuses(indexes.map((i) => hosts[i]!), { progress: () => undefined, signal: AbortSignal.timeout(timeoutMs + 1000), timeoutMs })
          .catch((err: unknown) => indexes.map(() => err as Error));
        indexes.forEach((i, k) => {
          const a = answers[k];
          out[i] = a instanceof Error || a === undefined ? { error: message(a ?? 'no answer') } : { status: a };
        });
        return;
      }
      await Promise.all(
        indexes.map(async (i) => {
          try {
            out[i] = { status: await driver.hostStatus(hosts[i]!, ctx()) };
          } catch (err) {
            out[i] = { error: message(err) };
          }
        }),
      );
    }),
  );
  return out;
}
