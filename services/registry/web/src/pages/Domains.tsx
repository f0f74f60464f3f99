import { useCallback, useState, type FormEvent } from 'react';
import { api, messageOf, unwrap, type Domain } from '../api.ts';
import { Page } from '../Page.tsx';
import { CopyButton, CopyField } from '../CopyButton.tsx';
import { ConfirmButton } from '../Confirm.tsx';
import { usePolling } from '../usePolling.ts';

export function DomainsPage() {
  const [domains, setDomains] = useState<Domain[]>();
  const [error, setError] = useState<string>();

  const load = useCallback(async () => {
    try {
      setDomains(await unwrap(api.GET('/v1/domains')));
      setError(undefined);
    } catch (err) {
      setError(messageOf(err));
    }
  }, []);
  usePolling(load, 30_000);

  const replace = (d: Domain): void => setDomains((all) => (all ?? []).some((x) => x.domain === d.domain) ? all!.map((x) => (x.domain === d.domain ? d : x)) : [...(all ?? []), d]);

  return (
    <Page title="Domains" intro="A custom domain routes to your agents once a DNS record proves you control it.">
      <AddDomain onAdded={replace} />
      {error && <p className="error" role="alert">{error}</p>}
      {domains === undefined ? (
        <p>Loading…</p>
      ) : domains.length === 0 ? (
        <p className="empty">No custom domains yet.</p>
      ) : (
        <ul className="cards" aria-label="Your domains">
          {domains.map((d) => (
            <li key={d.domain}>
              <DomainCard
                domain={d}
                onChange={replace}
                onRemove={async () => {
                  await unwrap(api.DELETE('/v1/domains/{domain}', { params: { path: { domain: d.domain } } }));
                  await load();
                }}
              />
            </li>
          ))}
        </ul>
      )}
    </Page>
  );
}

function AddDomain({ onAdded }: { onAdded: (d: Domain) => void }) {
  const [domain, setDomain] = useState('');
  const [error, setError] = useState<string>();
  const [busy, setBusy] = useState(false);
  const submit = async (e: FormEvent): Promise<void> => {
    e.preventDefault();
    const form = e.currentTarget as HTMLFormElement;
    setBusy(true);
    setError(undefined);
    try {
      onAdded(await unwrap(api.POST('/v1/domains', { body: { domain: domain.trim() } })));
      setDomain('');
      // a fresh form: not marked invalid for the value just cleared
      form.reset();
    } catch (err) {
      setError(messageOf(err));
    } finally {
      setBusy(false);
    }
  };
  return (
    <form className="card inline-form" onSubmit={(e) => void submit(e)} aria-labelledby="add-domain">
      <h2 id="add-domain">Add a domain</h2>
      <div className="row">
        <div>
          <label htmlFor="domain-name">Domain</label>
          <input id="domain-name" required maxLength={253} placeholder="home.example.com" value={domain} onChange={(e) => setDomain(e.target.value)} autoComplete="off" spellCheck={false} />
        </div>
        <button type="submit" disabled={busy}>Add domain</button>
      </div>
      {error && <p className="error" role="alert">{error}</p>}
    </form>
  );
}

function DomainCard({ domain: d, onChange, onRemove }: { domain: Domain; onChange: (d: Domain) => void; onRemove: () => Promise<void> }) {
  const [busy, setBusy] = useState(false);
  const [checked, setChecked] = useState(false);
  const [error, setError] = useState<string>();
  const verified = d.state === 'verified';
  const titleId = `domain-${d.domain.replace(/[^a-z0-9]/g, '-')}`;
  const verify = async (): Promise<void> => {
    setBusy(true);
    setError(undefined);
    try {
      onChange(await unwrap(api.POST('/v1/domains/{domain}/verify', { params: { path: { domain: d.domain } } })));
      setChecked(true);
    } catch (err) {
      setError(messageOf(err));
    } finally {
      setBusy(false);
    }
  };
  const zoneLine = `${d.record.name}. 300 IN ${d.record.type} "${d.record.value}"`;
  return (
    <article className="card domain" aria-labelledby={titleId}>
      <header className="card-head">
        <h2 id={titleId}>{d.domain}</h2>
        <span className={`badge ${verified ? 'ok' : 'pending'}`}>{verified ? 'Verified' : 'Pending'}</span>
      </header>
      {!verified && <p>To prove you control <strong>{d.domain}</strong>, create this DNS record, then press Verify:</p>}
      <div className="record" aria-label="DNS record">
        <div className="field"><span className="field-label">Type</span><code>{d.record.type}</code></div>
        <CopyField label="record name" value={d.record.name} />
        <CopyField label="record value" value={d.record.value} />
        <div className="field">
          <span className="field-label">As a zone-file line</span>
          <div className="copyable"><code>{zoneLine}</code><CopyButton text={zoneLine} label="zone-file line" /></div>
        </div>
      </div>
      {!verified && d.alternatives.length > 0 && (
        <details>
          <summary>Or a CNAME to one of your agents</summary>
          <ul className="hosts">
            {d.alternatives.map((a) => (
              <li key={a.value}><code>{a.name} CNAME {a.value}</code> <CopyButton text={a.value} label={`CNAME target ${a.value}`} /></li>
            ))}
          </ul>
        </details>
      )}
      <div className="result" role="status" aria-live="polite">
        {verified ? (
          <p className="ok-text">Verified{d.method ? ` by ${d.method.toUpperCase()} record` : ''}{d.verifiedAt ? ` on ${new Date(d.verifiedAt).toLocaleString()}` : ''}. Agents may claim {d.domain} and names under it.</p>
        ) : d.checkedAt || checked ? (
          <>
            <p>Not verified yet{d.checkedAt ? ` (checked ${new Date(d.checkedAt).toLocaleTimeString()})` : ''}. Still missing:</p>
            <ul className="missing">{(d.missing.length ? d.missing : ['the record above']).map((m) => <li key={m}>{m}</li>)}</ul>
          </>
        ) : null}
      </div>
      {error && <p className="error" role="alert">{error}</p>}
      <div className="actions">
        <button type="button" onClick={() => void verify()} disabled={busy}>{busy ? 'Checking…' : verified ? 'Check again' : 'Verify'}</button>
        <ConfirmButton label="Remove" danger question={<>Remove <strong>{d.domain}</strong>? Names under it stop routing.</>} confirmLabel="Remove domain" onConfirm={onRemove} />
      </div>
    </article>
  );
}
