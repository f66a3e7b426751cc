// Every host as a card: cpu, memory and disk split into used, held by placeholders and free;
// its state, last contact and containers; and the cluster's totals.
import { api } from '../api';
import { ErrorNote, StateBadge, UsageBar } from '../components';
import { ago, gib, mib } from '../format';
import { usePoll } from '../poll';
import type { Amounts, Cluster, HostUsage } from '../types';

const count = (n: number) => String(n);

function Bars({ used, held, allowance }: { used: Amounts; held: Amounts; allowance: Amounts }) {
  return (
    <div class="bars">
      <UsageBar label="cpu" containers={used.cpus} placeholders={held.cpus} allowance={allowance.cpus} format={count} />
      <UsageBar label="memory" containers={used.memoryMiB} placeholders={held.memoryMiB} allowance={allowance.memoryMiB} format={mib} />
      <UsageBar label="disk" containers={used.diskGiB} placeholders={held.diskGiB} allowance={allowance.diskGiB} format={gib} />
    </div>
  );
}

function HostCard({ host }: { host: HostUsage }) {
  return (
    <article class={`card host host-${host.state}`} data-host={host.name} data-state={host.state}>
      <header class="card-head">
        <h3>{host.name}</h3>
        <StateBadge state={host.state} />
      </header>
      <Bars used={host.containers} held={host.placeholders} allowance={host.allowance} />
      <dl class="facts">
        <dt>containers</dt>
        <dd>
          <a href={`#/containers?host=${encodeURIComponent(host.name)}`} data-count={host.containerCount}>
            {host.containerCount}
          </a>
          {host.placeholderCount ? <span class="muted"> + {host.placeholderCount} placeholder{host.placeholderCount === 1 ? '' : 's'}</span> : null}
        </dd>
        <dt>last contact</dt>
        <dd title={host.lastContact ?? ''}>{ago(host.lastContact)}</dd>
        <dt>driver</dt>
        <dd>{host.driver}</dd>
        {host.load !== null ? (
          <>
            <dt>load</dt>
            <dd>{host.load.toFixed(2)}</dd>
          </>
        ) : null}
      </dl>
      {host.stateCause && host.state !== 'up' ? <p class="cause small">{host.stateCause}</p> : null}
    </article>
  );
}

export function ClusterPage() {
  const { data, error } = usePoll(() => api.get<Cluster>('/v1/cluster'), []);
  if (!data) return error ? <ErrorNote error={error} /> : <p class="muted">loading…</p>;
  const t = data.totals;
  const states = Object.entries(t.hosts).sort(([a], [b]) => a.localeCompare(b));
  return (
    <div>
      <section class="panel totals" aria-label="totals">
        <div class="totals-row">
          <div class="total">
            <span class="big" data-testid="host-count">
              {data.hosts.length}
            </span>{' '}
            hosts
            <div class="muted small">{states.map(([s, n]) => `${n} ${s}`).join(' · ')}</div>
          </div>
          <div class="total">
            <span class="big">{t.containerCount}</span> containers
            <div class="muted small">
              {Object.entries(t.containersByState)
                .map(([s, n]) => `${n} ${s}`)
                .join(' · ') || 'none yet'}
            </div>
          </div>
          <div class="total">
            <span class="big">{t.placeholderCount}</span> placeholders
            <div class="muted small">capacity held by commands in flight</div>
          </div>
          <div class="total wide">
            <Bars used={t.containers} held={t.placeholders} allowance={t.allowance} />
          </div>
        </div>
        <p class="legend small">
          <span class="swatch used" /> used by containers <span class="swatch held" /> held by placeholders <span class="swatch free" /> free
        </p>
      </section>
      <ErrorNote error={error} />
      <div class="cards">
        {data.hosts.map((h) => (
          <HostCard key={h.id} host={h} />
        ))}
      </div>
    </div>
  );
}
