// Every container in a table paged by cursor (the API's pageToken), filtered by state and host on
// the server and by kind, environment and text (name, IP, ...) within the page, sortable by any
// column; and, for an operator, a form that creates one and follows its command.
import { useMemo, useState } from 'preact/hooks';
import { api, q } from '../api';
import { ErrorNote, ProgressLine, Section, StateBadge } from '../components';
import { gib, mib } from '../format';
import { usePoll } from '../poll';
import type { Command, Container, List, Page, Session } from '../types';

const PAGE_SIZES = [25, 50, 100, 500];
const DEFAULT_PAGE_SIZE = 50;

interface Row {
  name: string;
  state: string;
  host: string;
  kind: string;
  environment: string;
  ip: string;
  cpus: number;
  memoryMiB: number;
  diskGiB: number;
}

const COLUMNS: ReadonlyArray<{ key: keyof Row; label: string }> = [
  { key: 'name', label: 'name' },
  { key: 'state', label: 'state' },
  { key: 'host', label: 'host' },
  { key: 'kind', label: 'kind' },
  { key: 'environment', label: 'environment' },
  { key: 'ip', label: 'IP' },
  { key: 'cpus', label: 'cpus' },
  { key: 'memoryMiB', label: 'memory' },
  { key: 'diskGiB', label: 'disk' },
];

function rowOf(c: Container): Row {
  return {
    name: c.name,
    state: c.state,
    host: c.parent?.name ?? '',
    kind: c.definition.kind,
    environment: c.environment?.name ?? '',
    ip: c.definition.network?.ip ?? '',
    cpus: c.definition.cpus,
    memoryMiB: c.definition.memoryMiB,
    diskGiB: c.definition.diskGiB,
  };
}

/** IPs sort by their numbers, other text alphabetically, numbers numerically. */
function compare(a: Row, b: Row, key: keyof Row): number {
  const x = a[key];
  const y = b[key];
  if (typeof x === 'number' && typeof y === 'number') return x - y;
  if (key === 'ip') {
    const n = (s: string) => s.split('.').reduce((acc, p) => acc * 256 + Number(p || 0), 0);
    return n(String(x)) - n(String(y));
  }
  return String(x).localeCompare(String(y));
}

function CreateForm({ session, hosts }: { session: Session; hosts: string[] }) {
  const [form, setForm] = useState({ name: '', kind: session.kinds.includes('web') ? 'web' : (session.kinds[0] ?? ''), cpus: '1', memoryMiB: '1024', diskGiB: '10', hint: '' });
  const [error, setError] = useState<string | undefined>();
  const [busy, setBusy] = useState(false);
  const [followed, setFollowed] = useState<string | undefined>();
  const following = usePoll(() => (followed ? api.get<Command>(followed) : Promise.resolve(undefined)), [followed], 1000);

  const set = (field: keyof typeof form) => (e: Event) => setForm({ ...form, [field]: (e.target as HTMLInputElement).value });
  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      const accepted = await api.post<{ href: string }>('/v1/containers', {
        name: form.name.trim(),
        definition: { kind: form.kind, cpus: Number(form.cpus), memoryMiB: Number(form.memoryMiB), diskGiB: Number(form.diskGiB) },
        ...(form.hint ? { hint: form.hint } : {}),
      });
      setFollowed(accepted.href);
      setForm({ ...form, name: '' });
    } catch (err) {
      const details = (err as { details?: { problems?: { field: string; problem: string }[] } }).details;
      setError([(err as Error).message, ...(details?.problems ?? []).map((p) => `${p.field.replace(/^body\./, '')} ${p.problem}`)].join('; '));
    } finally {
      setBusy(false);
    }
  };
  const cmd = following.data;
  return (
    <form class="create" onSubmit={submit} aria-label="create a container">
      <label>
        name <input name="name" required value={form.name} onInput={set('name')} placeholder="web1" />
      </label>
      <label>
        kind
        <select name="kind" value={form.kind} onChange={set('kind')}>
          {session.kinds.map((k) => (
            <option key={k}>{k}</option>
          ))}
        </select>
      </label>
      <label>
        cpus <input name="cpus" type="number" min="1" value={form.cpus} onInput={set('cpus')} />
      </label>
      <label>
        memory MiB <input name="memoryMiB" type="number" min="1" value={form.memoryMiB} onInput={set('memoryMiB')} />
      </label>
      <label>
        disk GiB <input name="diskGiB" type="number" min="1" value={form.diskGiB} onInput={set('diskGiB')} />
      </label>
      <label>
        host
        <select name="hint" value={form.hint} onChange={set('hint')}>
          <option value="">allocator chooses</option>
          {hosts.map((h) => (
            <option key={h}>{h}</option>
          ))}
        </select>
      </label>
      <button type="submit" disabled={busy}>
        {busy ? 'creating…' : 'create'}
      </button>
      {error ? (
        <p class="error" role="alert">
          {error}
        </p>
      ) : null}
      {cmd ? (
        <div class="followed" data-status={cmd.status}>
          <a href={`#/containers/${q(cmd.target.name)}`}>{cmd.summary ?? `${cmd.command} ${cmd.target.name}`}</a> <span class="badge">{cmd.status.toLowerCase()}</span>{' '}
          <a href={cmd.webUi} target="_blank" rel="noreferrer">
            in the Temporal Web UI
          </a>
          {cmd.status === 'RUNNING' ? <ProgressLine progress={cmd.progress} status={cmd.status} /> : null}
          {cmd.error ? <p class="error small">{cmd.error.message}</p> : null}
        </div>
      ) : null}
    </form>
  );
}

export function ContainersPage({ session, query }: { session: Session; query: URLSearchParams }) {
  const [filter, setFilter] = useState(query.get('filter') ?? '');
  const [state, setState] = useState(query.get('state') ?? '');
  const [host, setHost] = useState(query.get('host') ?? '');
  const [kind, setKind] = useState(query.get('kind') ?? '');
  const [environment, setEnvironment] = useState(query.get('environment') ?? '');
  const [size, setSize] = useState(Number(query.get('limit')) || DEFAULT_PAGE_SIZE);
  // The tokens of the pages before this one: the first page has none, "previous" pops one.
  const [tokens, setTokens] = useState<string[]>([]);
  const [sort, setSort] = useState<{ key: keyof Row; down: boolean }>({ key: 'name', down: false });
  const pageToken = tokens[tokens.length - 1];
  const params = new URLSearchParams({ limit: String(size), ...(state ? { state } : {}), ...(host ? { host } : {}), ...(pageToken ? { pageToken } : {}) });
  const list = usePoll(() => api.get<Page<Container>>(`/v1/containers?${params}`), [params.toString()]);
  const hosts = usePoll(() => api.get<List<{ name: string }>>('/v1/hypervisors'), [], 10_000);
  const environments = usePoll(() => api.get<List<{ name: string }>>('/v1/environments?limit=1000'), [], 10_000);
  const hostNames = (hosts.data?.items ?? []).map((h) => h.name).sort();
  const envNames = (environments.data?.items ?? []).map((e) => e.name).sort();
  /** A filter the server applies starts again from the first page. */
  const serverFilter = (set: (v: string) => void) => (e: Event) => {
    set((e.target as HTMLSelectElement).value);
    setTokens([]);
  };

  const rows = useMemo(() => {
    const all = (list.data?.items ?? []).map(rowOf);
    const needle = filter.trim().toLowerCase();
    return all
      .filter((r) => !kind || r.kind === kind)
      .filter((r) => !environment || r.environment === environment)
      .filter((r) => !needle || [r.name, r.host, r.kind, r.environment, r.ip, r.state].some((v) => v.toLowerCase().includes(needle)))
      .sort((a, b) => (sort.down ? -1 : 1) * compare(a, b, sort.key));
  }, [list.data, filter, kind, environment, sort]);
  const states = [...new Set((list.data?.items ?? []).map((c) => c.state).concat(['running', 'stopped', 'suspended', 'lost', 'missing', 'unknown', 'illegal']))].sort();
  const canAct = session.role !== 'viewer';
  const next = list.data?.nextPageToken;

  return (
    <div>
      {canAct ? (
        <Section title="New container">
          <CreateForm session={session} hosts={hostNames} />
        </Section>
      ) : null}
      <Section
        title={`Containers${list.data ? ` (page ${tokens.length + 1}: ${rows.length} of ${list.data.items.length} shown)` : ''}`}
        actions={
          <div class="filters">
            <input type="search" aria-label="filter" placeholder="filter: name, host, kind, env, IP" value={filter} onInput={(e) => setFilter((e.target as HTMLInputElement).value)} />
            <select aria-label="state" value={state} onChange={serverFilter(setState)}>
              <option value="">every state</option>
              {states.map((s) => (
                <option key={s}>{s}</option>
              ))}
            </select>
            <select aria-label="host" value={host} onChange={serverFilter(setHost)}>
              <option value="">every host</option>
              {hostNames.map((h) => (
                <option key={h}>{h}</option>
              ))}
            </select>
            <select aria-label="kind" value={kind} onChange={(e) => setKind((e.target as HTMLSelectElement).value)}>
              <option value="">every kind</option>
              {session.kinds.map((k) => (
                <option key={k}>{k}</option>
              ))}
            </select>
            <select aria-label="environment" value={environment} onChange={(e) => setEnvironment((e.target as HTMLSelectElement).value)}>
              <option value="">every environment</option>
              {envNames.map((n) => (
                <option key={n}>{n}</option>
              ))}
            </select>
          </div>
        }
      >
        <ErrorNote error={list.error} />
        <table class="grid" aria-label="containers">
          <thead>
            <tr>
              {COLUMNS.map((c) => (
                <th key={c.key} aria-sort={sort.key === c.key ? (sort.down ? 'descending' : 'ascending') : 'none'}>
                  <button type="button" class="link" onClick={() => setSort({ key: c.key, down: sort.key === c.key ? !sort.down : false })}>
                    {c.label}
                    {sort.key === c.key ? (sort.down ? ' ▼' : ' ▲') : ''}
                  </button>
                </th>
              ))}
            </tr>
          </thead>
          <tbody>
            {rows.map((r) => (
              <tr key={r.name} data-container={r.name} data-state={r.state}>
                <td>
                  <a href={`#/containers/${q(r.name)}`}>{r.name}</a>
                </td>
                <td>
                  <StateBadge state={r.state} />
                </td>
                <td>{r.host || <span class="muted">none</span>}</td>
                <td>{r.kind}</td>
                <td>{r.environment ? <a href={`#/environments/${q(r.environment)}`}>{r.environment}</a> : <span class="muted">—</span>}</td>
                <td class="mono">{r.ip}</td>
                <td class="num">{r.cpus}</td>
                <td class="num">{mib(r.memoryMiB)}</td>
                <td class="num">{gib(r.diskGiB)}</td>
              </tr>
            ))}
          </tbody>
        </table>
        {list.data && rows.length === 0 ? <p class="muted">no container matches</p> : null}
        <nav class="pager" aria-label="pages">
          <span class="muted small">State and host filter the whole list; kind, environment, text and sorting apply within the page.</span>
          <label class="small">
            per page{' '}
            <select aria-label="page size" value={size} onChange={(e) => (setSize(Number((e.target as HTMLSelectElement).value)), setTokens([]))}>
              {[...new Set([...PAGE_SIZES, size])].sort((a, b) => a - b).map((n) => (
                <option key={n} value={n}>
                  {n}
                </option>
              ))}
            </select>
          </label>
          <button type="button" data-page="previous" disabled={!tokens.length} onClick={() => setTokens(tokens.slice(0, -1))}>
            ← previous
          </button>
          <span class="small" data-page-number={tokens.length + 1}>
            page {tokens.length + 1}
          </span>
          <button type="button" data-page="next" disabled={!next} onClick={() => next && setTokens([...tokens, next])}>
            next →
          </button>
        </nav>
      </Section>
    </div>
  );
}
