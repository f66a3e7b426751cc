// Commands running now and recent ones, each with its live progress, cancel for an operator and
// a link to its workflow in the Temporal Web UI.
import { api } from '../api';
import { ErrorNote, Section } from '../components';
import { CommandTable } from '../command-table';
import { usePoll } from '../poll';
import type { Command, List, Session } from '../types';

export function CommandsPage({ session }: { session: Session }) {
  const running = usePoll(() => api.get<List<Command>>('/v1/commands?status=Running&limit=100'), []);
  const recent = usePoll(() => api.get<List<Command>>('/v1/commands?limit=50'), [], 4000);
  const canAct = session.role !== 'viewer';
  const refresh = () => {
    running.refresh();
    recent.refresh();
  };
  const ended = (recent.data?.items ?? []).filter((c) => c.status !== 'RUNNING');
  return (
    <div>
      <Section title={`Running${running.data ? ` (${running.data.items.length})` : ''}`}>
        <ErrorNote error={running.error} />
        <CommandTable label="running commands" commands={running.data?.items ?? []} canAct={canAct} onChange={refresh} />
      </Section>
      <Section title="Recent">
        <ErrorNote error={recent.error} />
        <CommandTable label="recent commands" commands={ended} canAct={canAct} onChange={refresh} />
      </Section>
      <p class="muted small">
        Every command is a Temporal workflow named <span class="mono">container/&lt;name&gt;/&lt;command&gt;/&lt;id&gt;</span>; its full history is in the Temporal Web UI (namespace{' '}
        {session.temporal.namespace}).
      </p>
    </div>
  );
}
