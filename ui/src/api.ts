// The REST API as the dashboard uses it: the token entered once, kept for the browser session;
// every answer or failure also tells the connection banner whether the API is reachable.

const TOKEN_KEY = 'vmflow.token';

export const token = {
  get: (): string | null => sessionStorage.getItem(TOKEN_KEY),
  set: (value: string) => sessionStorage.setItem(TOKEN_KEY, value),
  clear: () => sessionStorage.removeItem(TOKEN_KEY),
};

/** An error answer of the API: `{ error: { code, message, details } }`. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
  }
}

type Listener = (reachable: boolean, reason?: string) => void;
const listeners = new Set<Listener>();

/** Called with false when a request could not reach the API, with true when one did. */
export function onReachability(listener: Listener): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}
const report = (reachable: boolean, reason?: string) => listeners.forEach((l) => l(reachable, reason));

/** Called when the API refuses the token (401): the session is over. */
export let onUnauthenticated: (message: string) => void = () => undefined;
export function setOnUnauthenticated(f: (message: string) => void): void {
  onUnauthenticated = f;
}

async function request<T>(method: string, path: string, body?: unknown, explicitToken?: string): Promise<T> {
  const headers: Record<string, string> = {};
  const t = explicitToken ?? token.get();
  if (t) headers.authorization = `Bearer ${t}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  let res: Response;
  try {
    res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch (err) {
    report(false, (err as Error).message);
    throw new ApiError(0, 'UNREACHABLE', 'the vmflow API cannot be reached');
  }
  report(true);
  const text = await res.text();
  const json = text ? (JSON.parse(text) as unknown) : undefined;
  if (!res.ok) {
    const e = (json as { error?: { code: string; message: string; details?: Record<string, unknown> } } | undefined)?.error;
    const err = new ApiError(res.status, e?.code ?? `HTTP_${res.status}`, e?.message ?? `${method} ${path} answered ${res.status}`, e?.details);
    if (res.status === 401 && !explicitToken) onUnauthenticated(err.message);
    throw err;
  }
  return json as T;
}

export const api = {
  get: <T>(path: string, withToken?: string) => request<T>('GET', path, undefined, withToken),
  post: <T>(path: string, body: unknown = {}) => request<T>('POST', path, body),
  delete: <T>(path: string) => request<T>('DELETE', path),
};

/** Health of the API's own dependencies; no token needed. */
export async function health(): Promise<{ reachable: boolean; checks: Record<string, string> }> {
  try {
    const res = await fetch('/healthz');
    const body = (await res.json()) as { checks: Record<string, string> };
    report(true);
    return { reachable: true, checks: body.checks };
  } catch (err) {
    report(false, (err as Error).message);
    return { reachable: false, checks: {} };
  }
}

export const q = encodeURIComponent;
