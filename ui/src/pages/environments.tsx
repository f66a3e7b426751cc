// Environments: members by priority with kind, host and state; the balancer's upstreams; the hook
// log of the last command; and the environment's commands.
import { api, q } from '../api';
import { ErrorNote, Section, StateBadge } from '../components';
import { CommandTable } from '../command-table';
import { usePoll } from '../poll';
import type { Command, Environment, List, NodeEvent, Session, Upstreams } from '../types';

function HookLog({ events }: { events: NodeEvent[] }) {
  const hooks = events.filter((e) => e.what.startsWith('hook '));
  const last = hooks[0]?.commandId;
  // Events come newest first; the log reads in the order the hooks were called.
  const log = hooks.filter((e) => e.commandId === last).reverse();
  if (!log.length) return <p class="muted small">no hook has run yet</p>;
  return (
    <ol class="hooklog" aria-label="hook log">
      {log.map((e) => (
        <li key={e.id}>
          <span class="mono">{e.what.replace(/^hook /, '')}</span> <span class="muted small">{e.why}</span>
          {e.data.handled === false ? <span class="muted small"> (no handler)</span> : null}
        </li>
      ))}
    </ol>
  );
}

function EnvironmentPanel({ name, session, alone }: { name: string; session: Session; alone: boolean }) {
  const env = usePoll(() => api.get<Environment>(`/v1/environments/${q(name)}`), [name]);
  const upstreams = usePoll(() => api.get<Upstreams>(`/v1/environments/${q(name)}/upstreams`), [name]);
  const events = usePoll(() => api.get<List<NodeEvent>>(`/v1/environments/${q(name)}/events?limit=200`), [name]);
  const commands = usePoll(() => (alone ? api.get<List<Command>>(`/v1/commands?environment=${q(name)}&limit=20`) : Promise.resolve(undefined)), [name, alone]);
  const e = env.data;
  const members = e?.members.items ?? [];
  const up = upstreams.data;
  return (
    <section class="panel env" data-environment={name}>
      <header class="panel-head">
        <h2>
          <a href={`#/environments/${q(name)}`}>{name}</a> {e ? <StateBadge state={e.state} /> : null}
        </h2>
        {e?.definition.description ? <p class="muted">{e.definition.description}</p> : null}
      </header>
      <ErrorNote error={env.error} />
      <div class="columns">
        <div>
          <h3>Members, by priority</h3>
          {members.length ? (
            <table class="grid" aria-label={`members of ${name}`}>
              <thead>
                <tr>
                  <th>priority</th>
                  <th>name</th>
                  <th>kind</th>
                  <th>host</th>
                  <th>state</th>
                  <th>IP</th>
                </tr>
              </thead>
              <tbody>
                {members.map((m) => (
                  <tr key={m.id} data-member={m.name} data-state={m.state}>
                    <td class="num">{m.priority}</td>
                    <td>
                      <a href={`#/containers/${q(m.name)}`}>{m.name}</a>
                    </td>
                    <td>{m.kind}</td>
                    <td>{m.host?.name ?? <span class="muted">none</span>}</td>
                    <td>
                      <StateBadge state={m.state} />
                    </td>
                    <td class="mono">{m.ip}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          ) : (
            <p class="muted">no members</p>
          )}
        </div>
        <div>
          <h3>Balancer upstreams</h3>
          {up?.balancer ? (
            <>
              <p>
                <a href={`#/containers/${q(up.balancer.name)}`}>{up.balancer.name}</a> on {up.balancer.host ?? 'no host'} <StateBadge state={up.balancer.state} />
              </p>
              <ul class="upstreams" aria-label="upstreams">
                {up.upstreams.map((u) => (
                  <li key={u.name}>
                    <span class="mono">{u.ip}</span> {u.name} <span class="muted small">{u.state}</span>
                  </li>
                ))}
              </ul>
              <details>
                <summary class="small">{up.path}, as the registry says it should read</summary>
                <pre class="json">{up.config}</pre>
              </details>
              <p class="small">
                <a href={`#/containers/${q(up.balancer.name)}`} data-upstream-file>
                  the file as it is on {up.balancer.name}
                </a>{' '}
                <span class="muted">(read through its host's driver)</span>
              </p>
            </>
          ) : (
            <p class="muted small">no balancer</p>
          )}
          <h3>Hook log of the last command</h3>
          <HookLog events={events.data?.items ?? []} />
        </div>
      </div>
      {alone ? (
        <>
          <h3>Commands</h3>
          <CommandTable label="environment commands" commands={commands.data?.items ?? []} canAct={session.role !== 'viewer'} onChange={commands.refresh} />
        </>
      ) : null}
    </section>
  );
}

export function EnvironmentsPage({ session, name }: { session: Session; name?: string }) {
  const list = usePoll(() => api.get<List<{ name: string }>>('/v1/environments?limit=1000'), [], 5000);
  if (name) return <EnvironmentPanel name={name} session={session} alone />;
  if (!list.data) return list.error ? <ErrorNote error={list.error} /> : <p class="muted">loading…</p>;
  return (
    <div>
      <ErrorNote error={list.error} />
      {list.data.items.length ? (
        list.data.items.map((e) => <EnvironmentPanel key={e.name} name={e.name} session={session} alone={false} />)
      ) : (
        <Section title="Environments">
          <p class="muted">
            No environment yet. <span class="mono">npx vmflow environments create shop</span>
          </p>
        </Section>
      )}
    </div>
  );
}
