import { Resolver } from 'node:dns/promises';

export const CHALLENGE_LABEL = '_sluice-challenge';

export interface ProofTargets {
  /** The TXT value expected under `_sluice-challenge.<domain>`. */
  txt: string;
  /** Hostnames a CNAME at the domain may point to: the user's agents' tunnel and DDNS addresses. */
  cnameTargets: string[];
}

export type CheckResult =
  | { ok: true; method: 'txt' | 'cname' }
  | { ok: false; missing: string[] };

export interface DomainChecker {
  check(domain: string, want: ProofTargets): Promise<CheckResult>;
}

const norm = (h: string): string => h.toLowerCase().replace(/\.$/, '');

/**
 * Checks proof of control with real DNS queries (node's c-ares resolver; `servers` may name a
 * port, `127.0.0.1:5353`). A resolver error is "not found", never a pass.
 */
export function createDomainChecker(opts: { servers?: string[]; timeoutMs?: number } = {}): DomainChecker {
  const resolver = new Resolver({ timeout: opts.timeoutMs ?? 2000, tries: 2 });
  if (opts.servers && opts.servers.length > 0) resolver.setServers(opts.servers);
  const describe = (err: unknown): string => {
    const code = (err as NodeJS.ErrnoException).code;
    return code === 'ENOTFOUND' || code === 'ENODATA' ? 'no such record' : `lookup failed (${code ?? (err as Error).message})`;
  };
  return {
    async check(domain, want) {
      const missing: string[] = [];
      const txtName = `${CHALLENGE_LABEL}.${domain}`;
      try {
        const records = (await resolver.resolveTxt(txtName)).map((chunks) => chunks.join(''));
        if (records.includes(want.txt)) return { ok: true, method: 'txt' };
        missing.push(`TXT ${txtName} "${want.txt}" (found ${records.length === 0 ? 'none' : records.map((r) => JSON.stringify(r)).join(', ')})`);
      } catch (err) {
        missing.push(`TXT ${txtName} "${want.txt}" (${describe(err)})`);
      }
      if (want.cnameTargets.length > 0) {
        try {
          const targets = (await resolver.resolveCname(domain)).map(norm);
          if (targets.some((t) => want.cnameTargets.map(norm).includes(t))) return { ok: true, method: 'cname' };
          missing.push(`or CNAME ${domain} → one of ${want.cnameTargets.join(', ')} (found ${targets.join(', ') || 'none'})`);
        } catch (err) {
          missing.push(`or CNAME ${domain} → one of ${want.cnameTargets.join(', ')} (${describe(err)})`);
        }
      }
      return { ok: false, missing };
    },
  };
}
