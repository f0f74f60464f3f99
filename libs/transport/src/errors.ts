import { SluiceError } from '@sluice/contracts';

export class PeerResetError extends SluiceError {
  constructor(reason: string) {
    super('SLUICE_PEER_RESET', `the other side reset the connection: ${reason}`);
  }
}
export class SequenceGapError extends SluiceError {
  constructor(expected: number, got: number) {
    super('SLUICE_SEQUENCE_GAP', `byte stream gap: expected frame ${expected}, got ${got}; aborting rather than corrupting`);
  }
}
export class MalformedFrameError extends SluiceError {
  constructor(what: string) {
    super('SLUICE_MALFORMED_FRAME', `malformed transport frame: ${what}`);
  }
}
export class TransportClosedError extends SluiceError {
  constructor(reason: string) {
    super('SLUICE_TRANSPORT_CLOSED', reason);
  }
}
