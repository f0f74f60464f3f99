export { SluiceError, InvalidMessageError, InvalidConfigError } from './errors.ts';
export { readConfigMapping, assertConfig } from './config-text.ts';
export { isId, newId, ID_PATTERN } from './ids.ts';
export { normalizeHostname, isValidRouteHostname, routeCandidates, hostnameToKey, keyToHostname } from './hostname.ts';
export { subjects, streams, buckets, parseDataSubject, type Direction, type TransportKind } from './subjects.ts';
export {
  codecs,
  codec,
  MAX_AGENT_HOSTNAMES,
  MAX_REPLY_URLS,
  type Codec,
  type ConnOpened,
  type ConnAssigned,
  type RouteResult,
  type AgentHeartbeat,
  type AgentOffline,
  type EdgeHeartbeat,
  type EdgeOffline,
  type RegisterRequest,
  type RegisterReply,
  type UnregisterRequest,
  type RouteRecord,
} from './schemas.ts';
export { dnsStream, dnsSubjects, dnsCodecs, parseDnsSubject, type DnsSubject, type AgentAddress, type EdgeAddress, type AcmeTxt } from './dns.ts';
export { registryEventKinds, registryEventCodec, registryEventSubject, registryEventsAll, type RegistryEvent, type RegistryEventKind } from './registry-events.ts';
export { consumers } from './subjects.ts';
export { agentPermissions, agentInboxPrefix, agentConsumers, type SubjectPermissions } from './permissions.ts';
export { interceptResource, devLabels, devAnnotations, INTERCEPT_FINALIZER, TUNNEL_EDGE_PREFIX, DNS_LABEL_PATTERN, SERVICE_NAME_PATTERN, InterceptSpec, InterceptStatus, TunnelStatusReport, TunnelHeartbeat, TunnelReportReply, DevApiError, DevEvent, interceptPhases, tunnelStates, tunnelRoutes, devEventKinds, devSubjects, devCodecs, type InterceptPhase, type TunnelState, type DevEventKind } from './dev.ts';
