import { useState, type FormEvent } from 'react';
import { api, messageOf, unwrap, type Session } from '../api.ts';
import { Page } from '../Page.tsx';

export function SignInPage({ onSignedIn }: { onSignedIn: (s: Session) => void }) {
  const [token, setToken] = useState('');
  const [error, setError] = useState<string>();
  const [busy, setBusy] = useState(false);

  const submit = async (e: FormEvent): Promise<void> => {
    e.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      // the API token goes once, in a header; from here on an httpOnly session cookie stands in for it
      const s = await unwrap(api.POST('/session', { headers: { authorization: `Bearer ${token.trim()}` } }));
      setToken('');
      onSignedIn(s);
    } catch (err) {
      setError(messageOf(err));
    } finally {
      setBusy(false);
    }
  };

  return (
    <Page title="Sign in" intro={<>Use an API token (<code>slt_…</code>): the one <code>sluice login</code> uses, or the admin token <code>npm run up</code> printed.</>}>
      <form className="card narrow" onSubmit={(e) => void submit(e)}>
        <label htmlFor="token">API token</label>
        <input
          id="token"
          name="token"
          type="password"
          autoComplete="off"
          spellCheck={false}
          required
          value={token}
          onChange={(e) => setToken(e.target.value)}
          aria-describedby={error ? 'signin-error' : undefined}
          aria-invalid={error ? true : undefined}
        />
        <button type="submit" disabled={busy}>{busy ? 'Signing in…' : 'Sign in'}</button>
        {error && <p id="signin-error" className="error" role="alert">{error}</p>}
      </form>
    </Page>
  );
}
