import { useEffect, useRef, useState } from 'react';
import { api, type LiveConnection } from '../api.ts';
import { Page } from '../Page.tsx';

const MAX_ROWS = 200;
const STATUS_TEXT: Record<LiveConnection['status'], string> = { assigned: 'routed', not_found: 'no route', no_agent: 'agent offline' };

export function LivePage() {
  const [rows, setRows] = useState<LiveConnection[]>([]);
  const [paused, setPaused] = useState(false);
  const [held, setHeld] = useState<LiveConnection[]>([]);
  const [state, setState] = useState<'connecting' | 'live' | 'reconnecting' | 'closed'>('connecting');
  const [dropped, setDropped] = useState(0);
  const pausedRef = useRef(paused);
  pausedRef.current = paused;

  useEffect(() => {
    // same origin: the session cookie goes with it
    const es = new EventSource('/v1/live');
    es.onopen = () => setState('live');
    es.onerror = () => {
      setState(es.readyState === EventSource.CLOSED ? 'closed' : 'reconnecting');
      // a stream refused for a lost session: let the app send the user to sign in
      void api.GET('/session');
    };
    es.addEventListener('connection', (e) => {
      const c = JSON.parse((e as MessageEvent<string>).data) as LiveConnection;
      if (pausedRef.current) setHeld((h) => [c, ...h].slice(0, MAX_ROWS));
      else setRows((r) => [c, ...r].slice(0, MAX_ROWS));
    });
    es.addEventListener('dropped', (e) => setDropped((n) => n + Number((e as MessageEvent<string>).data)));
    return () => es.close();
  }, []);

  const toggle = (): void => {
    if (paused) {
      setRows((r) => [...held, ...r].slice(0, MAX_ROWS));
      setHeld([]);
    }
    setPaused(!paused);
  };

  return (
    <Page title="Live connections" intro="New connections to your agents' hostnames as they arrive.">
      <div className="toolbar">
        <p className="stream-state" role="status">
          <span className={`dot ${state}`} aria-hidden="true" />
          {state === 'live' ? (paused ? 'Paused' : 'Live') : state === 'connecting' ? 'Connecting…' : state === 'reconnecting' ? 'Reconnecting…' : 'Disconnected'}
          {paused && held.length > 0 ? ` — ${held.length} new while paused` : ''}
          {dropped > 0 ? ` — ${dropped} not shown (the page fell behind)` : ''}
        </p>
        <button type="button" aria-pressed={paused} onClick={toggle}>{paused ? `Resume${held.length ? ` (${held.length})` : ''}` : 'Pause'}</button>
        <button type="button" className="secondary" onClick={() => setRows([])} disabled={rows.length === 0}>Clear</button>
      </div>
      {rows.length === 0 ? (
        <p className="empty">No connections yet. Requests to your agents' hostnames appear here as they arrive.</p>
      ) : (
        <div className="table-wrap">
          <table className="live">
            <caption className="visually-hidden">New connections, newest first</caption>
            <thead>
              <tr><th scope="col">Time</th><th scope="col">Host</th><th scope="col">Client</th><th scope="col">Agent</th><th scope="col">Status</th></tr>
            </thead>
            <tbody>
              {rows.map((c) => (
                <tr key={`${c.connId}:${c.ts}`} className={c.status}>
                  <td data-label="Time"><time dateTime={c.ts}>{new Date(c.ts).toLocaleTimeString()}</time></td>
                  <td data-label="Host"><code>{c.host}</code> <span className="muted">{c.proto.toUpperCase()}</span></td>
                  <td data-label="Client">{c.clientAddr.includes(':') ? `[${c.clientAddr}]` : c.clientAddr}:{c.clientPort}</td>
                  <td data-label="Agent">{c.agent ?? c.agentId ?? '—'}</td>
                  <td data-label="Status"><span className={`badge ${c.status === 'assigned' ? 'ok' : 'off'}`}>{STATUS_TEXT[c.status]}</span></td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </Page>
  );
}
