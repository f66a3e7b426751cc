// Lists read by page: a page answers with the token of the next one, an opaque string that carries
// where the page ended (keyset paging on the registry, Temporal visibility's own token for commands).
import { InvalidInputError } from '../domain/errors';

export interface Page<T> {
  readonly items: T[];
  /** Pass back for the next page; absent on the last one. */
  readonly nextPageToken?: string;
}

export const DEFAULT_PAGE_SIZE = 100;
export const MAX_PAGE_SIZE = 1000;

/** The token of the page after the one that ended with `name`. */
export function tokenAfter(name: string): string {
  return Buffer.from(JSON.stringify({ after: name }), 'utf8').toString('base64url');
}

/** The name a page token says the previous page ended with; InvalidInputError when it is not one of ours. */
export function afterOf(token: string): string {
  try {
    const decoded = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as { after?: unknown };
    if (typeof decoded?.after === 'string' && decoded.after.length > 0) return decoded.after;
  } catch {
    // reported below
  }
  throw new InvalidInputError([{ field: 'pageToken', problem: 'is not a page token from this list' }], 'page');
}

/** A page token that carries Temporal visibility's own token (commands are listed from visibility). */
export function visibilityPageToken(token: Uint8Array): string {
  return Buffer.from(JSON.stringify({ visibility: Buffer.from(token).toString('base64') }), 'utf8').toString('base64url');
}

/** Temporal visibility's token inside a page token; InvalidInputError when it is not one of ours. */
export function visibilityTokenOf(token: string): Uint8Array {
  try {
    const decoded = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as { visibility?: unknown };
    if (typeof decoded?.visibility === 'string' && decoded.visibility.length > 0) return Buffer.from(decoded.visibility, 'base64');
  } catch {
    // reported below
  }
  throw new InvalidInputError([{ field: 'pageToken', problem: 'is not a page token from this list' }], 'page');
}
