import { isIP } from 'node:net';
import { isValidRouteHostname, normalizeHostname } from '@sluice/contracts';
import type { KubeAgentConfig } from './config.ts';
import type { IngressClassView, IngressView } from './ingress-view.ts';

/** Why an Ingress (or one of its hosts) is not served; each is the reason of a Warning Event. */
export const IssueReasons = ['NoHosts', 'InvalidHost', 'HostConflict', 'HostLimit', 'HostRefused'] as const;
export type IssueReason = (typeof IssueReasons)[number];

export interface IngressRef {
  namespace: string;
  name: string;
  uid: string;
  resourceVersion: string;
}

export interface Issue {
  ingress: IngressRef;
  reason: IssueReason;
  host?: string;
  message: string;
}

export interface AgentRule {
  /** Absent: every other host routed to the agent (its tunnel address) goes to this service. */
  hostname?: string;
  service: string;
}

export interface ClaimPlan {
  /**
   * Ingress rules for the tunnel agent: every claimed host to the controller (http, and tls for
   * TLS hosts), and a host-less http rule first, for the agent's tunnel address (the registry routes
   * it to the agent without being asked; a rule without hostname is not sent to the registry).
   */
  rules: AgentRule[];
  /** Claimed hosts, oldest owner first. */
  hosts: string[];
  /** Hosts each in-scope Ingress would be served on (by Ingress uid), before the registry's answer. */
  hostsOf: Map<string, string[]>;
  /** The Ingresses that own each claimed host (all in one namespace). */
  ownersOf: Map<string, IngressRef[]>;
  /** Ingresses of the agent's class in its namespaces. */
  inScope: IngressView[];
  issues: Issue[];
}

export interface PlanInput {
  ingresses: readonly IngressView[];
  classes: readonly IngressClassView[];
  config: Pick<KubeAgentConfig, 'ingressClass' | 'namespaces' | 'maxHosts' | 'controller'>;
}

const refOf = (i: IngressView): IngressRef => ({
  namespace: i.metadata.namespace,
  name: i.metadata.name,
  uid: i.metadata.uid,
  resourceVersion: i.metadata.resourceVersion,
});

/** Is this Ingress one the agent serves: its class, and its namespace allowed? */
export function inScope(i: IngressView, classes: readonly IngressClassView[], config: PlanInput['config']): boolean {
  const { include, exclude } = config.namespaces;
  if (include.length > 0 && !include.includes(i.metadata.namespace)) return false;
  if (exclude.includes(i.metadata.namespace)) return false;
  if (config.ingressClass === '*') return true;
  const named = i.spec.ingressClassName ?? i.metadata.legacyClass;
  if (named !== undefined) return named === config.ingressClass;
  // no class: the cluster's default class takes it
  return classes.some((c) => c.metadata.name === config.ingressClass && c.isDefault);
}

/** Why a host from an Ingress cannot be a route, or undefined when it can. */
export function hostProblem(host: string): string | undefined {
  const h = normalizeHostname(host);
  if (isIP(h) !== 0 || isIP(h.replace(/^\[|\]$/g, '')) !== 0) return `"${host}" is an IP address; the tunnel routes DNS names`;
  if (!isValidRouteHostname(h)) return `"${host}" is not a valid hostname (letters, digits and hyphens in labels of at most 63, at most 253 in all; "*." only as the first label)`;
  return undefined;
}

/** Does a TLS host entry (exact or a one-label `*.` wildcard, as certificates match) cover `host`? */
function tlsCovers(tlsHost: string, host: string): boolean {
  const t = normalizeHostname(tlsHost);
  if (t === host) return true;
  if (!t.startsWith('*.') || host.startsWith('*.')) return false;
  const dot = host.indexOf('.');
  return dot > 0 && host.slice(dot) === t.slice(1);
}

function serviceUrl(proto: 'http' | 'tls', host: string, port: number): string {
  return `${proto}://${host.includes(':') ? `[${host}]` : host}:${port}`;
}

/**
 * Which hosts the agent claims, and why each other host is not claimed. Deterministic: the oldest
 * Ingress (creationTimestamp, then namespace/name) owns a host for its namespace; other Ingresses of
 * that namespace share it (the controller merges their paths), Ingresses in other namespaces are
 * refused it. Hosts past the rule budget are skipped in the same order.
 */
export function planClaims(input: PlanInput): ClaimPlan {
  const { config } = input;
  // one sort key per Ingress, not two strings per comparison
  const scoped = input.ingresses
    .filter((i) => inScope(i, input.classes, config))
    .map((i) => ({ i, k: `${i.metadata.created}\u0000${i.metadata.namespace}/${i.metadata.name}` }))
    .sort((a, b) => (a.k < b.k ? -1 : a.k > b.k ? 1 : 0))
    .map((e) => e.i);

  const issues: Issue[] = [];
  const owner = new Map<string, { namespace: string; first: IngressView; members: IngressView[]; tls: boolean }>();
  const order: string[] = [];
  const hostsOf = new Map<string, string[]>();

  for (const ing of scoped) {
    const ref = refOf(ing);
    const named = ing.spec.ruleHosts.filter((h): h is string => h !== null && h !== '');
    if (named.length === 0) {
      issues.push({
        ingress: ref,
        reason: 'NoHosts',
        message: ing.spec.ruleHosts.length === 0
          ? 'the Ingress has no rules with a host; the Sluice agent claims only hosts named in spec.rules[].host'
          : 'no rule of the Ingress names a host; the Sluice agent claims only hosts named in spec.rules[].host',
      });
      hostsOf.set(ref.uid, []);
      continue;
    }
    const mine: string[] = [];
    for (const raw of new Set(named)) {
      const problem = hostProblem(raw);
      if (problem) {
        issues.push({ ingress: ref, reason: 'InvalidHost', host: raw, message: `skipped host ${problem}` });
        continue;
      }
      const host = normalizeHostname(raw);
      if (mine.includes(host)) continue;
      const tls = ing.spec.tlsHosts.some((t) => tlsCovers(t, host));
      const o = owner.get(host);
      if (!o) {
        owner.set(host, { namespace: ref.namespace, first: ing, members: [ing], tls });
        order.push(host);
        mine.push(host);
      } else if (o.namespace === ref.namespace) {
        o.members.push(ing);
        o.tls ||= tls;
        mine.push(host);
      } else {
        issues.push({
          ingress: ref,
          reason: 'HostConflict',
          host,
          message: `skipped host ${host}: Ingress ${o.first.metadata.namespace}/${o.first.metadata.name} (older) already has it; a host is served for one namespace, the oldest Ingress's`,
        });
      }
    }
    hostsOf.set(ref.uid, mine);
  }

  const { host: ctrl, httpPort, tlsPort } = config.controller;
  const rules: AgentRule[] = [{ service: serviceUrl('http', ctrl, httpPort) }];
  let named = 0;
  const hosts: string[] = [];
  const ownersOf = new Map<string, IngressRef[]>();
  let full = false;
  for (const host of order) {
    const o = owner.get(host)!;
    if (!full && named + 1 > config.maxHosts) full = true;
    if (full) {
      for (const m of o.members) {
        issues.push({
          ingress: refOf(m),
          reason: 'HostLimit',
          host,
          message: `skipped host ${host}: the agent already claims its limit of ${config.maxHosts} hostnames; older Ingresses come first`,
        });
        const list = hostsOf.get(m.metadata.uid);
        if (list) hostsOf.set(m.metadata.uid, list.filter((h) => h !== host));
      }
      continue;
    }
    rules.push({ hostname: host, service: serviceUrl('http', ctrl, httpPort) });
    if (o.tls) rules.push({ hostname: host, service: serviceUrl('tls', ctrl, tlsPort) });
    named += 1;
    hosts.push(host);
    ownersOf.set(host, o.members.map(refOf));
  }
  return { rules, hosts, hostsOf, ownersOf, inScope: scoped, issues };
}

/** The registry's refusals as Issues on every Ingress that asked for the host. */
export function refusalIssues(plan: ClaimPlan, refused: Array<{ hostname: string; reason: string }>): Issue[] {
  const out: Issue[] = [];
  for (const r of refused) {
    for (const ref of plan.ownersOf.get(r.hostname) ?? []) {
      out.push({ ingress: ref, reason: 'HostRefused', host: r.hostname, message: `skipped host ${r.hostname}: the Sluice registry refused it: ${r.reason}` });
    }
  }
  return out;
}
