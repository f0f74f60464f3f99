/** Where a scenario sends its requests: the demo upstream itself, or the edge with the tunnel's Host. */
export interface Target {
  readonly kind: 'direct' | 'tunnel';
  readonly port: number;
  /** Host header value; the edge routes by it. */
  readonly host: string;
}

export const TUNNEL_HOSTNAME = 'bench.sluice.localhost';

export function directTarget(upstreamPort: number): Target {
  return { kind: 'direct', port: upstreamPort, host: `127.0.0.1:${upstreamPort}` };
}

export function tunnelTarget(edgeHttpPort: number): Target {
  return { kind: 'tunnel', port: edgeHttpPort, host: TUNNEL_HOSTNAME };
}

/** A complete HTTP/1.1 request head for `path` on `target`. */
export function requestHead(target: Target, path: string, connection: 'close' | 'keep-alive'): string {
  return `GET ${path} HTTP/1.1\r\nHost: ${target.host}\r\nConnection: ${connection}\r\n\r\n`;
}
