import { useCallback, useMemo, useState } from 'react';
import { api, ApiError, messageOf, unwrap, type Agent } from '../api.ts';
import { Page } from '../Page.tsx';
import { Link } from '../router.tsx';
import { usePolling } from '../usePolling.ts';
import { AgentFacts, SOURCE_HINT, sourceText } from '../AgentFacts.tsx';

/** Rows shown before "Show all": an agent may have 10,000 names. */
const FIRST_ROWS = 500;

interface Row {
  hostname: string;
  state: 'routed' | 'refused';
  reason?: string;
  sources: NonNullable<Agent['sources']>;
}

function rowsOf(a: Agent): Row[] {
  const by = new Map<string, NonNullable<Agent['sources']>>();
  for (const s of a.sources ?? []) {
    const list = by.get(s.hostname);
    if (list) list.push(s);
    else by.set(s.hostname, [s]);
  }
  return [
    ...a.accepted.map((h): Row => ({ hostname: h, state: 'routed', sources: by.get(h) ?? [] })),
    ...a.refused.map((r): Row => ({ hostname: r.hostname, state: 'refused', reason: r.reason, sources: by.get(r.hostname) ?? [] })),
  ];
}

/** One agent: its status, every hostname it claimed with where the claim came from, and the refusals. */
export function AgentPage({ name, region }: { name: string; region: string | undefined }) {
  // undefined: loading; null: no such agent
  const [agent, setAgent] = useState<Agent | null>();
  const [error, setError] = useState<string>();

  const load = useCallback(async () => {
    try {
      setAgent(await unwrap(api.GET('/v1/agents/{name}', { params: { path: { name }, query: region ? { region } : {} } })));
      setError(undefined);
    } catch (err) {
      if (err instanceof ApiError && err.status === 404) {
        setAgent(null);
        setError(undefined);
      } else setError(messageOf(err));
    }
  }, [name, region]);
  usePolling(load, 5000);

  return (
    <Page title={`Agent ${name}`} intro={region ? `Region ${region}.` : undefined}>
      <p><Link to="/agents">All agents</Link></p>
      {error && <p className="error" role="alert">{error}</p>}
      {agent === undefined ? (
        <p>Loading…</p>
      ) : agent === null ? (
        <p className="empty">You have no agent named <strong>{name}</strong>{region ? ` in region ${region}` : ''}.</p>
      ) : (
        <>
          <section className="card" aria-labelledby="agent-status">
            <header className="card-head">
              <h2 id="agent-status">Status</h2>
              <span className={`badge ${agent.online ? 'ok' : 'off'}`}>{agent.online ? 'Online' : 'Offline'}</span>
            </header>
            <AgentFacts agent={agent} />
          </section>
          <Hostnames agent={agent} />
        </>
      )}
    </Page>
  );
}

function Hostnames({ agent }: { agent: Agent }) {
  const [filter, setFilter] = useState('');
  const [all, setAll] = useState(false);
  const rows = useMemo(() => rowsOf(agent), [agent]);
  const needle = filter.trim().toLowerCase();
  const matching = needle ? rows.filter((r) => r.hostname.includes(needle) || r.sources.some((s) => sourceText(s).includes(needle))) : rows;
  const shown = all ? matching : matching.slice(0, FIRST_ROWS);
  const refused = agent.refused.length;
  return (
    <section aria-labelledby="hostnames">
      <h2 id="hostnames">Hostnames</h2>
      <p className="intro">
        {agent.accepted.length} routed{refused > 0 ? `, ${refused} refused` : ''}. Sources: <code>config</code>, the agent config file;
        {' '}<code>cli</code>, the command line or a generated name; <code>namespace/name</code>, a Kubernetes Ingress.
      </p>
      {rows.length === 0 ? (
        <p className="muted">None yet: the agent claims its hostnames when it connects.</p>
      ) : (
        <>
          {rows.length > 10 && (
            <div className="toolbar">
              <label htmlFor="host-filter" className="visually-hidden">Filter hostnames</label>
              <input id="host-filter" type="search" placeholder="Filter by hostname or source" value={filter} onChange={(e) => setFilter(e.target.value)} autoComplete="off" spellCheck={false} />
            </div>
          )}
          <div className="table-wrap">
            <table className="data">
              <caption className="visually-hidden">Hostnames of {agent.name}, where each claim came from, and why any was refused</caption>
              <thead>
                <tr><th scope="col">Hostname</th><th scope="col">State</th><th scope="col">Source</th><th scope="col">Why refused</th></tr>
              </thead>
              <tbody>
                {shown.map((r) => (
                  <tr key={`${r.state}:${r.hostname}`} className={r.state}>
                    <td data-label="Hostname"><code>{r.hostname}</code></td>
                    <td data-label="State"><span className={`badge ${r.state === 'routed' ? 'ok' : 'bad'}`}>{r.state}</span></td>
                    <td data-label="Source">
                      {r.sources.length === 0 ? <span className="muted">unknown</span> : r.sources.map((s) => (
                        <span key={sourceText(s)} className="source" title={SOURCE_HINT[s.kind]}>{s.kind === 'ingress' ? <><span className="visually-hidden">Ingress </span>{sourceText(s)}</> : sourceText(s)}</span>
                      ))}
                    </td>
                    <td data-label="Why refused">{r.reason}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
          <p role="status" className="muted">
            {needle ? `${matching.length} of ${rows.length} match.` : ''}
            {shown.length < matching.length ? ` Showing the first ${shown.length}.` : ''}
          </p>
          {shown.length < matching.length && <button type="button" className="secondary" onClick={() => setAll(true)}>Show all {matching.length}</button>}
        </>
      )}
    </section>
  );
}
