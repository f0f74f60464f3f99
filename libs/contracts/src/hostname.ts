/** Hostnames as routes: lower-case, no trailing dot; an optional leading `*.` wildcard. */
const labelRe = /^[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?$/;

export function normalizeHostname(input: string): string {
  let h = input.trim().toLowerCase();
  if (h.endsWith('.')) h = h.slice(0, -1);
  return h;
}

/** True for `a.b.c` and `*.b.c`; false for anything else (bare `*`, empty labels, > 253 chars). */
export function isValidRouteHostname(h: string): boolean {
  if (h.length === 0 || h.length > 253) return false;
  const labels = h.split('.');
  const rest = labels[0] === '*' ? labels.slice(1) : labels;
  if (rest.length < 1 || (labels[0] === '*' && rest.length < 2)) return false;
  return rest.every((l) => labelRe.test(l));
}

/** Route lookup order for a request host: itself, then `*.` of each parent, nearest first. */
export function routeCandidates(host: string): string[] {
  const out = [host];
  const labels = host.split('.');
  for (let i = 1; i < labels.length - 1; i++) out.push('*.' + labels.slice(i).join('.'));
  return out;
}

/** KV keys cannot hold `*`; wildcards are stored as `_w_.`. */
export function hostnameToKey(h: string): string {
  return h.startsWith('*.') ? '_w_.' + h.slice(2) : h;
}
export function keyToHostname(k: string): string {
  return k.startsWith('_w_.') ? '*.' + k.slice(4) : k;
}
