import { InvalidMessageError, normalizeHostname, type RegisterRequest } from '@sluice/contracts';

/** Where one claim came from, as the API shows it. */
export interface ClaimSource {
  kind: 'config' | 'cli' | 'ingress';
  /** The Ingress's, for `ingress`. */
  namespace?: string;
  name?: string;
}

/** Positions in a list of hostnames per source; the request's and the record's shape (see ClaimSources in @sluice/contracts). */
export type GroupedSources = NonNullable<RegisterRequest['sources']>;

/** Each hostname's sources (normalised names). */
export type SourcesByHost = Map<string, ClaimSource[]>;

function* groups(g: GroupedSources): Generator<[ClaimSource, string, number[]]> {
  if (g.config) yield [{ kind: 'config' }, '/config', g.config];
  if (g.cli) yield [{ kind: 'cli' }, '/cli', g.cli];
  for (const [key, list] of Object.entries(g.ingress ?? {})) {
    const slash = key.indexOf('/');
    yield [{ kind: 'ingress', namespace: key.slice(0, slash), name: key.slice(slash + 1) }, `/ingress/${key}`, list];
  }
}

/**
 * The grouped sources of `hostnames` as each name's list. An index past the list is an agent's
 * bug: the request is refused with where it is, like any other invalid field.
 */
export function sourcesByHost(hostnames: readonly string[], grouped: GroupedSources | undefined, what = 'RegisterRequest: /sources', onPastEnd: 'throw' | 'skip' = 'throw'): SourcesByHost {
  const out: SourcesByHost = new Map();
  if (!grouped) return out;
  for (const [source, path, list] of groups(grouped)) {
    for (const i of list) {
      const h = hostnames[i];
      if (h === undefined) {
        if (onPastEnd === 'skip') continue;
        throw new InvalidMessageError(`${what}${path}: position ${i} is past the ${hostnames.length} hostnames`);
      }
      const name = normalizeHostname(h);
      const known = out.get(name);
      if (!known) out.set(name, [source]);
      else if (!known.some((k) => k.kind === source.kind && k.namespace === source.namespace && k.name === source.name)) known.push(source);
    }
  }
  return out;
}

/** The sources of the names in `list`, grouped by position in it (what the agent record stores). */
export function groupSources(list: readonly string[], byHost: SourcesByHost): GroupedSources | undefined {
  const config: number[] = [];
  const cli: number[] = [];
  const ingress: Record<string, number[]> = {};
  let any = false;
  list.forEach((h, i) => {
    for (const s of byHost.get(h) ?? []) {
      any = true;
      if (s.kind === 'ingress') (ingress[`${s.namespace}/${s.name}`] ??= []).push(i);
      else (s.kind === 'cli' ? cli : config).push(i);
    }
  });
  if (!any) return undefined;
  return { ...(config.length ? { config } : {}), ...(cli.length ? { cli } : {}), ...(Object.keys(ingress).length ? { ingress } : {}) };
}

/** The list an agent record's `sources` positions refer to: its accepted names, then its refused ones. */
export const claimedNames = (a: { accepted: readonly string[]; refused: ReadonlyArray<{ hostname: string }> }): string[] => [...a.accepted, ...a.refused.map((r) => r.hostname)];

/** A stored record's sources by name (a position past its names, which only a hand-edited record has, is skipped). */
export const recordSources = (a: { accepted: readonly string[]; refused: ReadonlyArray<{ hostname: string }>; sources?: GroupedSources }): SourcesByHost =>
  sourcesByHost(claimedNames(a), a.sources, 'AgentRecord: /sources', 'skip');
