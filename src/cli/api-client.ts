// The CLI's only way to the cluster: the REST API, with a bearer token. Nothing here opens the
// registry or Temporal, so an operator's machine needs neither credentials nor drivers.
import { readFileSync } from 'node:fs';
import type { Config } from '../config';

/** An error the API answered (`{ error: { code, message, details } }`), or a failure to reach it. */
export class ApiError extends Error {
  override readonly name = 'ApiError';
  constructor(
    readonly code: string,
    message: string,
    /** The HTTP status; 0 when no answer carried it (the API was not reached, or a followed command ended with it). */
    readonly status: number,
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
  }
}

type Query = Record<string, string | number | boolean | undefined>;

export class ApiClient {
  constructor(
    readonly baseUrl: string,
    private readonly token: string | undefined,
  ) {}

  get<T>(path: string, query?: Query): Promise<T> {
    return this.request<T>('GET', path, undefined, query);
  }

  post<T>(path: string, body: unknown = {}): Promise<T> {
    return this.request<T>('POST', path, body);
  }

  delete<T>(path: string, query?: Query): Promise<T> {
    return this.request<T>('DELETE', path, undefined, query);
  }

  private async request<T>(method: string, path: string, body?: unknown, query?: Query): Promise<T> {
    const url = new URL(path, this.baseUrl);
    for (const [k, v] of Object.entries(query ?? {})) if (v !== undefined) url.searchParams.set(k, String(v));
    const headers: Record<string, string> = { accept: 'application/json' };
    if (this.token) headers.authorization = `Bearer ${this.token}`;
    if (body !== undefined) headers['content-type'] = 'application/json';
    let res: Response;
    try {
      res = await fetch(url, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    } catch (err) {
      const cause = (err as { cause?: { message?: string } }).cause?.message ?? (err as Error).message;
      throw new ApiError('UNREACHABLE', `cannot reach the vmflow API at ${this.baseUrl} (VMFLOW_API_URL): ${cause}`, 0);
    }
    const text = await res.text();
    let json: any;
    try {
      json = text ? JSON.parse(text) : undefined;
    } catch {
      json = undefined;
    }
    if (res.ok) return json as T;
    const e = json?.error;
    if (e && typeof e.message === 'string') throw new ApiError(String(e.code ?? 'INTERNAL'), e.message, res.status, e.details ?? {});
    throw new ApiError('INTERNAL', `the API answered ${res.status} ${res.statusText} to ${method} ${url.pathname}`, res.status);
  }
}

/** A path segment: a name, an id or a key (`ip:10.0.0.5`). */
export function seg(ref: string): string {
  return encodeURIComponent(ref);
}

/** The API path of a command: `/v1/commands/container/web1/migrate/<id>`. */
export function commandPath(workflowId: string): string {
  return `/v1/commands/${workflowId.split('/').map(encodeURIComponent).join('/')}`;
}

/** VMFLOW_TOKEN, or else the admin token `vmflow dev` keeps in VMFLOW_API_TOKEN_FILE. */
export function tokenOf(config: Pick<Config, 'apiToken' | 'apiTokenFile'>): string | undefined {
  if (config.apiToken) return config.apiToken;
  try {
    return readFileSync(config.apiTokenFile, 'utf8').trim() || undefined;
  } catch {
    return undefined;
  }
}
