import { REASON } from '../reasons';
import type { Filter } from '../types';

/** When the request names a driver, only hosts reached through that driver. */
export const driverMatches: Filter = {
  name: 'driver matches',
  prepare(request) {
    const driver = request.driver;
    if (driver === undefined) return undefined;
    return (host) => (host.driver === driver ? undefined : REASON.wrongDriver);
  },
};
