// The vmflow dashboard: log in with an API token (kept for the browser session), then the
// cluster, containers, environments and commands, refreshed by short polling. A viewer sees;
// an operator also acts.
import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { ApiError, api, health, onReachability, setOnUnauthenticated, token } from './api';
import { ClusterPage } from './pages/cluster';
import { CommandsPage } from './pages/commands';
import { ContainerPage } from './pages/container';
import { ContainersPage } from './pages/containers';
import { EnvironmentsPage } from './pages/environments';
import type { Session } from './types';
import './styles.css';

interface Route {
  path: string[];
  query: URLSearchParams;
}

function parse(hash: string): Route {
  const [p = '', search = ''] = hash.replace(/^#\/?/, '').split('?');
  const path = p.split('/').filter(Boolean).map(decodeURIComponent);
  return { path: path.length ? path : ['cluster'], query: new URLSearchParams(search) };
}

function useRoute(): Route {
  const [route, setRoute] = useState(() => parse(location.hash));
  useEffect(() => {
    const on = () => setRoute(parse(location.hash));
    addEventListener('hashchange', on);
    return () => removeEventListener('hashchange', on);
  }, []);
  return route;
}

/** Shown whenever the API cannot be reached or reports that Temporal or the registry is down. */
function ConnectionBanner() {
  const [reachable, setReachable] = useState(true);
  const [checks, setChecks] = useState<Record<string, string>>({});
  useEffect(() => onReachability((r) => setReachable(r)), []);
  useEffect(() => {
    let stopped = false;
    const check = async () => {
      const h = await health();
      if (!stopped) setChecks(h.checks);
    };
    void check();
    const timer = setInterval(check, 5000);
    return () => {
      stopped = true;
      clearInterval(timer);
    };
  }, []);
  const failing = Object.entries(checks).filter(([, v]) => v !== 'ok');
  if (!reachable)
    return (
      <div class="banner down" role="alert" data-testid="unreachable">
        The vmflow API cannot be reached. What you see is the last answer; it refreshes on its own once the API is back.
      </div>
    );
  if (failing.length)
    return (
      <div class="banner degraded" role="alert">
        The API answers, but {failing.map(([k, v]) => `${k === 'temporal' ? 'Temporal' : k} is not reachable (${v})`).join('; ')}: commands cannot be sent or followed.
      </div>
    );
  return null;
}

function Login({ onLogin, message }: { onLogin: (s: Session) => void; message?: string }) {
  const [value, setValue] = useState('');
  const [error, setError] = useState(message);
  const [busy, setBusy] = useState(false);
  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      const session = await api.get<Session>('/v1/session', value.trim());
      token.set(value.trim());
      onLogin(session);
    } catch (err) {
      setError(err instanceof ApiError && err.status === 401 ? 'This token is not valid (or was revoked).' : (err as Error).message);
    } finally {
      setBusy(false);
    }
  };
  return (
    <main class="login">
      <form onSubmit={submit} class="panel" aria-label="log in">
        <h1>vmflow</h1>
        <p class="muted">
          Enter an API token. <span class="mono">npm start</span> writes an admin token to <span class="mono">.vmflow/admin-token</span>; make others with{' '}
          <span class="mono">vmflow tokens create --role viewer --name you</span>.
        </p>
        <label>
          token <input name="token" type="password" autoComplete="off" required value={value} onInput={(e) => setValue((e.target as HTMLInputElement).value)} />
        </label>
        <button type="submit" disabled={busy}>
          {busy ? 'checking…' : 'log in'}
        </button>
        {error ? (
          <p class="error" role="alert">
            {error}
          </p>
        ) : null}
      </form>
    </main>
  );
}

const PAGES = [
  { path: 'cluster', label: 'Cluster' },
  { path: 'containers', label: 'Containers' },
  { path: 'environments', label: 'Environments' },
  { path: 'commands', label: 'Commands' },
];

function Page({ route, session }: { route: Route; session: Session }) {
  const [page, name] = route.path;
  if (page === 'containers' && name) return <ContainerPage name={name} session={session} />;
  if (page === 'containers') return <ContainersPage session={session} query={route.query} key={route.query.toString()} />;
  if (page === 'environments') return <EnvironmentsPage session={session} name={name} />;
  if (page === 'commands') return <CommandsPage session={session} />;
  return <ClusterPage />;
}

function App() {
  const route = useRoute();
  const [session, setSession] = useState<Session | undefined>();
  const [checking, setChecking] = useState(!!token.get());
  const [loggedOut, setLoggedOut] = useState<string | undefined>();

  useEffect(() => {
    setOnUnauthenticated((message) => {
      token.clear();
      setSession(undefined);
      setLoggedOut(`Logged out: ${message}`);
    });
    const saved = token.get();
    if (!saved) return;
    api
      .get<Session>('/v1/session')
      .then(setSession, (err: ApiError) => {
        if (err.status === 401) token.clear();
        else setLoggedOut(err.message);
      })
      .finally(() => setChecking(false));
  }, []);

  if (checking) return <p class="muted">connecting…</p>;
  if (!session)
    return (
      <>
        <ConnectionBanner />
        <Login onLogin={(s) => (setSession(s), setLoggedOut(undefined))} message={loggedOut} />
      </>
    );
  const logout = () => {
    token.clear();
    setSession(undefined);
  };
  return (
    <>
      <header class="top">
        <a class="brand" href="#/cluster">
          vmflow
        </a>
        <nav>
          {PAGES.map((p) => (
            <a key={p.path} href={`#/${p.path}`} class={route.path[0] === p.path ? 'active' : ''} aria-current={route.path[0] === p.path ? 'page' : undefined}>
              {p.label}
            </a>
          ))}
        </nav>
        <span class="who" data-role={session.role}>
          {session.name} · {session.role}
          <a href={session.temporal.webUi} target="_blank" rel="noreferrer">
            Temporal Web UI
          </a>
          <button type="button" class="link" onClick={logout}>
            log out
          </button>
        </span>
      </header>
      <ConnectionBanner />
      <main class="content">
        <Page route={route} session={session} />
      </main>
    </>
  );
}

render(<App />, document.getElementById('app')!);
