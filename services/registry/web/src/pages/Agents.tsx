import { useCallback, useEffect, useRef, useState, type FormEvent } from 'react';
import { api, messageOf, unwrap, type Agent, type AgentCreated } from '../api.ts';
import { Page } from '../Page.tsx';
import { CopyField } from '../CopyButton.tsx';
import { ConfirmButton } from '../Confirm.tsx';
import { usePolling } from '../usePolling.ts';
import { Link } from '../router.tsx';
import { AgentFacts, agentPath } from '../AgentFacts.tsx';

/** A card lists this many names; the agent's page lists them all, with their sources. */
const CARD_HOSTS = 20;

const NAME_PATTERN = '[a-z][a-z0-9\\-]{0,31}';

export function AgentsPage() {
  const [agents, setAgents] = useState<Agent[]>();
  const [error, setError] = useState<string>();
  const [shown, setShown] = useState<AgentCreated>();
  const [notice, setNotice] = useState<string>();

  const load = useCallback(async () => {
    try {
      setAgents(await unwrap(api.GET('/v1/agents')));
      setError(undefined);
    } catch (err) {
      setError(messageOf(err));
    }
  }, []);
  usePolling(load, 5000);

  const act = async (what: () => Promise<void>): Promise<void> => {
    setNotice(undefined);
    try {
      await what();
      setError(undefined);
    } catch (err) {
      setError(messageOf(err));
    }
    await load();
  };

  return (
    <Page title="Agents" intro="Each agent connects out to the gateway with its own credentials and serves the hostnames routed to it.">
      <CreateAgent onCreated={(c) => void act(async () => setShown(c))} />
      {shown && <Credentials created={shown} onDone={() => setShown(undefined)} />}
      {error && <p className="error" role="alert">{error}</p>}
      <p className="visually-hidden" role="status">{notice}</p>
      {agents === undefined ? (
        <p>Loading…</p>
      ) : agents.length === 0 ? (
        <p className="empty">No agents yet: create one above, then run it with its credentials.</p>
      ) : (
        <ul className="cards" aria-label="Your agents">
          {agents.map((a) => (
            <li key={a.id}>
              <AgentCard
                agent={a}
                onRotate={() => act(async () => setShown(await unwrap(api.POST('/v1/agents/{name}/credentials', { params: { path: { name: a.name }, query: { region: a.region } } }))))}
                onDelete={() =>
                  act(async () => {
                    await unwrap(api.DELETE('/v1/agents/{name}', { params: { path: { name: a.name }, query: { region: a.region } } }));
                    if (shown?.name === a.name && shown.region === a.region) setShown(undefined);
                    setNotice(`Agent ${a.name} deleted`);
                  })
                }
              />
            </li>
          ))}
        </ul>
      )}
    </Page>
  );
}

function CreateAgent({ onCreated }: { onCreated: (c: AgentCreated) => void }) {
  const [name, setName] = useState('');
  const [region, setRegion] = useState('');
  const [error, setError] = useState<string>();
  const [busy, setBusy] = useState(false);
  const submit = async (e: FormEvent): Promise<void> => {
    e.preventDefault();
    const form = e.currentTarget as HTMLFormElement;
    setBusy(true);
    setError(undefined);
    try {
      const created = await unwrap(api.POST('/v1/agents', { body: { name, ...(region ? { region } : {}) } }));
      setName('');
      // a fresh form: not marked invalid for the value just cleared
      form.reset();
      onCreated(created);
    } catch (err) {
      setError(messageOf(err));
    } finally {
      setBusy(false);
    }
  };
  return (
    <form className="card inline-form" onSubmit={(e) => void submit(e)} aria-labelledby="create-agent">
      <h2 id="create-agent">Create an agent</h2>
      <div className="row">
        <div>
          <label htmlFor="agent-name">Name</label>
          <input id="agent-name" required pattern={NAME_PATTERN} maxLength={32} value={name} onChange={(e) => setName(e.target.value)} aria-describedby="agent-name-hint" autoComplete="off" spellCheck={false} />
          <small id="agent-name-hint">Lower-case letters, digits and hyphens, starting with a letter.</small>
        </div>
        <div>
          <label htmlFor="agent-region">Region <span className="muted">(optional)</span></label>
          <input id="agent-region" pattern={NAME_PATTERN} maxLength={32} value={region} onChange={(e) => setRegion(e.target.value)} autoComplete="off" spellCheck={false} />
        </div>
        <button type="submit" disabled={busy}>Create agent</button>
      </div>
      {error && <p className="error" role="alert">{error}</p>}
    </form>
  );
}

function Credentials({ created, onDone }: { created: AgentCreated; onDone: () => void }) {
  const c = created.credentials;
  const config = [
    `nats: ${c.natsUrl ?? '<the gateway NATS URL>'}`,
    `token: ${c.token}`,
    `agentId: ${c.agentId}`,
    ...(c.natsCreds ? ['credentials: ./agent.creds'] : []),
    'generate: true',
    'ingress:',
    `  - hostname: ${created.hostname}`,
    '    service: http://127.0.0.1:3000',
  ].join('\n');
  const title = useRef<HTMLHeadingElement>(null);
  useEffect(() => title.current?.focus(), [created]);
  return (
    <section className="card credentials" aria-labelledby="creds-title" role="region">
      <h2 id="creds-title" ref={title} tabIndex={-1}>Credentials for {created.name}</h2>
      <p className="warning"><strong>Shown once.</strong> Copy them now: the registry keeps only a hash and cannot show them again (rotate to get new ones).</p>
      <CopyField label="agent token" value={c.token} />
      <CopyField label="agent id" value={c.agentId} />
      {c.natsUrl && <CopyField label="NATS URL" value={c.natsUrl} />}
      {c.natsCreds && <CopyField label="NATS credentials (agent.creds)" value={c.natsCreds} multiline />}
      <CopyField label="agent config" value={config} multiline />
      <button type="button" onClick={onDone}>I have saved them</button>
    </section>
  );
}

function AgentCard({ agent: a, onRotate, onDelete }: { agent: Agent; onRotate: () => Promise<void>; onDelete: () => Promise<void> }) {
  const titleId = `agent-${a.id}`;
  return (
    <article className="card agent" aria-labelledby={titleId}>
      <header className="card-head">
        <h2 id={titleId}>{a.name}</h2>
        <span className={`badge ${a.online ? 'ok' : 'off'}`}>{a.online ? 'Online' : 'Offline'}</span>
      </header>
      <AgentFacts agent={a} />
      <h3>Hostnames routed</h3>
      {a.accepted.length === 0 ? <p className="muted">None yet: the agent claims its hostnames when it connects.</p> : (
        <ul className="hosts">{a.accepted.slice(0, CARD_HOSTS).map((h) => <li key={h}><code>{h}</code></li>)}</ul>
      )}
      {a.refused.length > 0 && (
        <>
          <h3>Refused claims</h3>
          <ul className="hosts refused">
            {a.refused.slice(0, CARD_HOSTS).map((r) => (
              <li key={r.hostname}><code>{r.hostname}</code> <span className="why">{r.reason}</span></li>
            ))}
          </ul>
        </>
      )}
      <p className="more">
        <Link to={agentPath(a)}>
          {a.accepted.length + a.refused.length > CARD_HOSTS ? `All ${a.accepted.length + a.refused.length} hostnames` : 'Hostnames and where they come from'}
          <span className="visually-hidden"> of {a.name}</span>
        </Link>
      </p>
      <div className="actions">
        <ConfirmButton label="Rotate credentials" question={<>New credentials for <strong>{a.name}</strong>? The old ones stop working and the running agent is disconnected.</>} confirmLabel="Rotate" onConfirm={onRotate} />
        <ConfirmButton label="Delete" danger question={<>Delete <strong>{a.name}</strong>? Its credentials are revoked and its hostnames stop routing.</>} confirmLabel="Delete agent" onConfirm={onDelete} />
      </div>
    </article>
  );
}
