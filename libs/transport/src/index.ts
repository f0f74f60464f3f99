export { createByteTransport, type ByteTransport, type TransportOptions, type TransportRole, type TransportDeps } from './transport.ts';
export { TunnelSession, type SessionOptions } from './session.ts';
export { splice } from './splice.ts';
export { PeerResetError, SequenceGapError, MalformedFrameError, TransportClosedError } from './errors.ts';
export type { TunnelEndDeps } from './tunnel-end.ts';
