// Errors the farm answers with: each carries the HTTP status and the wire body.
import type { SimErrorBody } from './protocol';

/** An error with the HTTP status and body the server answers with. */
export class SimFault extends Error {
  override readonly name = 'SimFault';
  constructor(
    readonly status: number,
    readonly body: SimErrorBody,
  ) {
    super(body.message);
  }
}

/** The host refuses: the request is not possible in the current state. */
export const refused = (message: string) => new SimFault(409, { code: 'refused', message });

export const badRequest = (message: string) => new SimFault(400, { code: 'bad_request', message });

export const notFound = (message: string) => new SimFault(404, { code: 'not_found', message });
