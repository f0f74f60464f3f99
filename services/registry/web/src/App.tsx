import { useCallback, useEffect, useState } from 'react';
import { api, messageOf, unwrap, useSession, type Session } from './api.ts';
import { Link, navigate, useLocation } from './router.tsx';
import { SignInPage } from './pages/SignIn.tsx';
import { AgentsPage } from './pages/Agents.tsx';
import { AgentPage } from './pages/Agent.tsx';
import { DomainsPage } from './pages/Domains.tsx';
import { LivePage } from './pages/Live.tsx';

const NAV = [
  { to: '/agents', label: 'Agents' },
  { to: '/domains', label: 'Domains' },
  { to: '/live', label: 'Live' },
] as const;

export function App() {
  const { path, query } = useLocation();
  // undefined: not known yet; null: signed out
  const [session, setSession] = useState<Session | null | undefined>(undefined);
  const [loadError, setLoadError] = useState<string>();
  const signedOut = useCallback(() => setSession(null), []);
  useSession(session ?? null, signedOut);

  useEffect(() => {
    api.GET('/session').then(
      ({ data, response }) => setSession(response.ok && data ? data : null),
      (err: unknown) => setLoadError(messageOf(err)),
    );
  }, []);

  useEffect(() => {
    if (session === null && path !== '/signin') navigate(`/signin?next=${encodeURIComponent(path + (query.size ? `?${query}` : ''))}`, { replace: true });
    if (session && (path === '/' || path === '/signin')) navigate(safeNext(query.get('next')), { replace: true });
  }, [session, path, query]);

  if (loadError) return <main className="page"><p role="alert">The registry did not answer: {loadError}. Reload to try again.</p></main>;
  if (session === undefined) return <main className="page"><p>Loading…</p></main>;

  const signOut = async (): Promise<void> => {
    await unwrap(api.DELETE('/session')).catch(() => undefined);
    setSession(null);
  };

  return (
    <>
      <a className="skip" href="#main">Skip to content</a>
      <header className="bar">
        <nav aria-label="Main">
          <span className="brand">Sluice</span>
          {session && (
            <ul>
              {NAV.map((n) => (
                <li key={n.to}>
                  <Link to={n.to} aria-current={path === n.to ? 'page' : path.startsWith(`${n.to}/`) ? 'location' : undefined}>{n.label}</Link>
                </li>
              ))}
            </ul>
          )}
        </nav>
        {session && (
          <div className="who">
            <span>Signed in as <strong>{session.name}</strong></span>
            <button type="button" className="secondary" onClick={() => void signOut()}>Sign out</button>
          </div>
        )}
      </header>
      <main id="main" className="page">
        {!session ? (
          <SignInPage onSignedIn={setSession} />
        ) : path === '/agents' ? (
          <AgentsPage />
        ) : path.startsWith('/agents/') && path.length > '/agents/'.length ? (
          <AgentPage key={path + (query.get('region') ?? '')} name={decodeURIComponent(path.slice('/agents/'.length))} region={query.get('region') ?? undefined} />
        ) : path === '/domains' ? (
          <DomainsPage />
        ) : path === '/live' ? (
          <LivePage />
        ) : (
          <p>Opening…</p>
        )}
      </main>
    </>
  );
}

/** Only a path of this site: `next` comes from the URL, so it must not send the user elsewhere. */
function safeNext(next: string | null): string {
  return next && next.startsWith('/') && !next.startsWith('//') && !next.startsWith('/signin') && next !== '/' ? next : '/agents';
}
