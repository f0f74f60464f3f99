import type { NatsConnection, Subscription, Msg } from '@nats-io/transport-node';
import type { KV } from '@nats-io/kv';
import type { Logger } from 'pino';
import { Counter, type Registry as MetricsRegistry } from 'prom-client';
import {
  codecs,
  hostnameToKey,
  isValidRouteHostname,
  newId,
  normalizeHostname,
  subjects,
  SluiceError,
  type RegisterReply,
  type RegisterRequest,
} from '@sluice/contracts';
import { openRoutesBucket } from '@sluice/nats';
import type { RegistryConfig } from './config.ts';

export interface RegistryDeps {
  nc: NatsConnection;
  logger: Logger;
  metrics?: MetricsRegistry;
}

export interface Registry {
  start(): Promise<void>;
  stop(): Promise<void>;
}

export class HostnameNotOwnedError extends SluiceError {
  constructor(hostname: string, why: string) {
    super('SLUICE_HOSTNAME_NOT_OWNED', `${hostname}: ${why}`);
  }
}

/** Is `name` equal to `owned` or covered by it (`*.a.b` covers `x.a.b`, `x.y.a.b` and `*.y.a.b`)? */
export function covers(owned: string, name: string): boolean {
  if (owned === name) return true;
  if (!owned.startsWith('*.')) return false;
  const suffix = owned.slice(1); // ".a.b"
  return name.endsWith(suffix) && name.length > suffix.length;
}

/**
 * The system of record for this issue's scope: which agent may serve which hostnames. Agents ask
 * over NATS (`sluice.registry.register`); accepted routes go into the routes bucket (the router
 * follows it) and every change is announced on `sluice.events.registry.*`.
 */
export function createRegistry(config: RegistryConfig, deps: RegistryDeps): Registry {
  const { nc, logger } = deps;
  const byToken = new Map(config.agents.map((a) => [a.token, a]));
  const subs: Subscription[] = [];
  let kv: KV | undefined;
  const reg = deps.metrics;
  const metrics = reg
    ? {
        registrations: new Counter({ name: 'sluice_registry_registrations_total', help: 'Agent registrations: ok, or the refusal code without SLUICE_ (unauthorized, invalid_message, internal)', labelNames: ['result'], registers: [reg] }),
        hostnames: new Counter({ name: 'sluice_registry_hostnames_total', help: 'Hostnames agents asked for, accepted or refused', labelNames: ['result'], registers: [reg] }),
        unregistrations: new Counter({ name: 'sluice_registry_unregistrations_total', help: 'Agents that released their hostnames: ok, kept (configured agents keep theirs), invalid, error', labelNames: ['result'], registers: [reg] }),
      }
    : undefined;

  const generatedBase = (name: string, user: string): string => `${name}.${user}.${config.region}.${config.zone}`;

  const urlFor = (host: string): string =>
    `http://${host}${config.publicHttpPort === 80 ? '' : `:${config.publicHttpPort}`}/`;

  const register = async (req: RegisterRequest): Promise<RegisterReply> => {
    const refused: RegisterReply['refused'] = [];
    const accepted: string[] = [];
    let agentId: string;
    let owned: string[];
    let user: string;
    if (req.token !== undefined) {
      const a = byToken.get(req.token);
      if (!a) return { v: 1, ok: false, error: { code: 'SLUICE_UNAUTHORIZED', message: 'unknown agent token' }, accepted, refused, urls: [] };
      // replicas of one configured agent run as `<id>` or `<id>-<suffix>`
      agentId = req.agentId && (req.agentId === a.id || req.agentId.startsWith(`${a.id}-`)) ? req.agentId : a.id;
      user = a.user;
      owned = a.hostnames.map(normalizeHostname);
    } else {
      if (!config.anonymousUser) {
        return { v: 1, ok: false, error: { code: 'SLUICE_UNAUTHORIZED', message: 'a token is required (anonymous tunnels are disabled)' }, accepted, refused, urls: [] };
      }
      agentId = newId(5);
      user = config.anonymousUser;
      owned = [];
    }
    const base = generatedBase(agentId, user);
    owned.push(base, `*.${base}`);
    const wanted = req.hostnames.map(normalizeHostname);
    if (req.generate) wanted.unshift(base);
    for (const h of wanted) {
      if (!isValidRouteHostname(h)) {
        refused.push({ hostname: h, reason: 'not a valid hostname (letters, digits, hyphens; `*.` only as the first label)' });
      } else if (!owned.some((o) => covers(o, h))) {
        refused.push({ hostname: h, reason: new HostnameNotOwnedError(h, `not owned by agent ${agentId}`).message });
      } else if (!accepted.includes(h)) accepted.push(h);
    }
    const keep = new Set<string>();
    for (const h of accepted) {
      const key = `${agentId}.${hostnameToKey(h)}`;
      keep.add(key);
      await kv!.put(key, codecs.routeRecord.encode({ v: 1, hostname: h, agentId, createdAt: Date.now() }));
    }
    // a registration is the agent's whole claim: names it no longer asks for are released
    for await (const k of await kv!.keys(`${agentId}.>`)) if (!keep.has(k)) await kv!.delete(k);
    nc.publish(subjects.registryEvent('agent-registered'), JSON.stringify({ v: 1, agentId, user, hostnames: accepted, transport: req.transport }));
    logger.info({ agentId, accepted, refused: refused.length }, 'agent registered');
    return { v: 1, ok: true, agentId, accepted, refused, urls: accepted.filter((h) => !h.startsWith('*.')).map(urlFor) };
  };

  const unregister = async (agentId: string): Promise<void> => {
    const keys = await kv!.keys(`${agentId}.>`);
    for await (const k of keys) await kv!.delete(k);
    nc.publish(subjects.registryEvent('agent-unregistered'), JSON.stringify({ v: 1, agentId }));
    logger.info({ agentId }, 'agent unregistered');
  };

  const answer = (m: Msg, reply: RegisterReply): void => {
    m.respond(codecs.registerReply.encode(reply));
    metrics?.registrations.inc({ result: reply.ok ? 'ok' : (reply.error?.code ?? 'error').replace(/^SLUICE_/, '').toLowerCase() });
    if (reply.accepted.length > 0) metrics?.hostnames.inc({ result: 'accepted' }, reply.accepted.length);
    if (reply.refused.length > 0) metrics?.hostnames.inc({ result: 'refused' }, reply.refused.length);
  };
  const fail = (m: Msg, code: string, message: string): void =>
    answer(m, { v: 1, ok: false, error: { code, message }, accepted: [], refused: [], urls: [] });

  return {
    async start() {
      kv = await openRoutesBucket(nc);
      subs.push(
        nc.subscribe(subjects.registryRegister, {
          queue: 'registry',
          callback: (_e, m) => {
            let req: RegisterRequest;
            try {
              req = codecs.registerRequest.decode(m.data);
            } catch (err) {
              fail(m, 'SLUICE_INVALID_MESSAGE', (err as Error).message);
              return;
            }
            register(req).then(
              (r) => answer(m, r),
              (err: unknown) => {
                logger.error({ err }, 'register failed');
                fail(m, 'SLUICE_INTERNAL', 'registration could not be stored; retry');
              },
            );
          },
        }),
        nc.subscribe(subjects.registryUnregister, {
          queue: 'registry',
          callback: (_e, m) => {
            let agentId: string;
            try {
              const req = codecs.unregisterRequest.decode(m.data);
              // configured agents' routes stay: their replicas and restarts keep serving them
              if (req.token !== undefined && byToken.has(req.token)) {
                m.respond(JSON.stringify({ ok: true, kept: true }));
                metrics?.unregistrations.inc({ result: 'kept' });
                return;
              }
              agentId = req.agentId;
            } catch (err) {
              m.respond(JSON.stringify({ ok: false, error: (err as Error).message }));
              metrics?.unregistrations.inc({ result: 'invalid' });
              return;
            }
            unregister(agentId).then(
              () => {
                m.respond(JSON.stringify({ ok: true }));
                metrics?.unregistrations.inc({ result: 'ok' });
              },
              (err: unknown) => {
                logger.error({ err }, 'unregister failed');
                m.respond(JSON.stringify({ ok: false, error: 'could not remove routes' }));
                metrics?.unregistrations.inc({ result: 'error' });
              },
            );
          },
        }),
      );
      logger.info({ zone: config.zone, agents: config.agents.length }, 'registry ready');
    },
    async stop() {
      for (const s of subs) s.unsubscribe();
    },
  };
}
