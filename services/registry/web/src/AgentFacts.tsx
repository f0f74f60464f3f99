import type { Agent } from './api.ts';
import { ago, bytes, exact } from './format.ts';

type Source = NonNullable<Agent['sources']>[number];

/** A claim's source as the pages write it: `config`, `cli`, or the Ingress's `namespace/name`. */
export function sourceText(s: Omit<Source, 'hostname'>): string {
  return s.kind === 'ingress' ? `${s.namespace ?? '?'}/${s.name ?? '?'}` : s.kind;
}

export const SOURCE_HINT: Record<Source['kind'], string> = {
  config: 'from the agent config file',
  cli: 'from the command line, or generated for the agent (sluice http)',
  ingress: 'from a Kubernetes Ingress (namespace/name)',
};

export function Ago({ iso }: { iso: string }) {
  return <time dateTime={iso} title={exact(iso)}>{ago(iso)}</time>;
}

function address(a: NonNullable<Agent['publicAddress']>): string {
  return [a.ipv4, a.ipv6].filter(Boolean).join(', ') || '—';
}

/** What the registry knows of an agent: addresses, and while it runs, what its heartbeats say. */
export function AgentFacts({ agent: a }: { agent: Agent }) {
  return (
    <dl className="facts">
      <dt>Region</dt>
      <dd>{a.region}</dd>
      <dt>Tunnel address</dt>
      <dd><code>{a.hostname}</code></dd>
      <dt>DDNS address</dt>
      <dd><code>{a.ddnsHostname}</code></dd>
      <dt>Public address</dt>
      <dd>
        {a.publicAddress ? (
          <>
            <code>{address(a.publicAddress)}</code>{' '}
            <span className="muted">({a.publicAddress.source === 'config' ? 'configured' : 'as the gateway sees it'}, reported <Ago iso={a.publicAddress.reportedAt} />)</span>
          </>
        ) : 'not reported'}
      </dd>
      <dt>Version</dt>
      <dd>{a.version ?? 'unknown'}</dd>
      {a.online ? (
        <>
          <dt>Connected since</dt>
          <dd>{a.connectedSince ? <Ago iso={a.connectedSince} /> : 'unknown'}{a.instances && a.instances > 1 ? ` (${a.instances} instances)` : ''}</dd>
          <dt>Active connections</dt>
          <dd>{a.activeConnections ?? 'unknown'}</dd>
          <dt>Last minute</dt>
          <dd>
            {a.bytesInLastMinute !== undefined && a.bytesOutLastMinute !== undefined
              ? <>{bytes(a.bytesInLastMinute)} in, {bytes(a.bytesOutLastMinute)} out</>
              : 'unknown'}
          </dd>
        </>
      ) : (
        <>
          <dt>Last seen</dt>
          <dd>{a.lastSeen ? <Ago iso={a.lastSeen} /> : 'never connected'}</dd>
        </>
      )}
      <dt>Registered</dt>
      <dd>{a.registeredAt ? <Ago iso={a.registeredAt} /> : 'not yet'}</dd>
      <dt>Created</dt>
      <dd><time dateTime={a.createdAt}>{exact(a.createdAt)}</time></dd>
    </dl>
  );
}

/** The link to an agent's own page (names are unique per region). */
export const agentPath = (a: Pick<Agent, 'name' | 'region'>): string => `/agents/${encodeURIComponent(a.name)}?region=${encodeURIComponent(a.region)}`;
