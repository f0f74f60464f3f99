import { MAX_AGENT_HOSTNAMES, type RegisterRequest } from '@sluice/contracts';

/** Where a hostname of the ingress rules comes from (the registry keeps it for the dashboard). */
export type ClaimSource = { kind: 'config' } | { kind: 'cli' } | { kind: 'ingress'; namespace: string; name: string };
/** Each hostname's sources; a hostname not in the map comes from the agent's `config`. */
export type ClaimSourceMap = ReadonlyMap<string, readonly ClaimSource[]>;
type Grouped = NonNullable<RegisterRequest['sources']>;

/**
 * The most the sources may add to a registration (the agent also keeps them inside what the
 * server's max_payload leaves beside the hostnames). 10,000 names from as many Ingresses take
 * ~0.34 MB; when Ingresses share hosts (one Ingress per path is common) names lose their extra
 * sources first, then their first one (the dashboard shows no source): routing never depends on them.
 */
export const SOURCES_BUDGET_BYTES = 384 * 1024;

const FROM_CONFIG: readonly ClaimSource[] = [{ kind: 'config' }];

/** Positions of each source's names in `hostnames`, grouped per source, within `budgetBytes` of JSON. */
export function groupClaimSources(hostnames: readonly string[], sources: ClaimSourceMap, budgetBytes = SOURCES_BUDGET_BYTES): { sources: Grouped; dropped: number } {
  const config: number[] = [];
  const cli: number[] = [];
  const ingress: Record<string, number[]> = {};
  let groups = 0;
  // an index costs its digits and a comma; a group its quoted key, a colon and brackets
  let bytes = 40;
  let dropped = 0;
  const add = (s: ClaimSource, i: number): void => {
    const cost = String(i).length + 1;
    let list: number[] | undefined = s.kind === 'config' ? config : s.kind === 'cli' ? cli : ingress[`${s.namespace}/${s.name}`];
    if (!list && s.kind === 'ingress') {
      const key = `${s.namespace}/${s.name}`;
      if (groups >= MAX_AGENT_HOSTNAMES || bytes + key.length + 6 + cost > budgetBytes) {
        dropped++;
        return;
      }
      ingress[key] = list = [];
      groups++;
      bytes += key.length + 6;
    }
    if (bytes + cost > budgetBytes) {
      dropped++;
      return;
    }
    list!.push(i);
    bytes += cost;
  };
  // every name's first source before any name's second
  const more: Array<[ClaimSource, number]> = [];
  hostnames.forEach((h, i) => {
    const own = sources.get(h);
    const [first, ...rest] = own && own.length > 0 ? own : FROM_CONFIG;
    add(first!, i);
    for (const s of rest) more.push([s, i]);
  });
  for (const [s, i] of more) add(s, i);
  return {
    sources: { ...(config.length ? { config } : {}), ...(cli.length ? { cli } : {}), ...(groups > 0 ? { ingress } : {}) },
    dropped,
  };
}
