import { SluiceError } from '@sluice/contracts';

/** A persisted trust file (or its JSON) that does not hold what `trustToJson` wrote. */
export class InvalidTrustError extends SluiceError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('SLUICE_AUTH_INVALID_TRUST', message, options);
  }
}

/** The server refused an account JWT pushed to `$SYS.REQ.CLAIMS.UPDATE`, or nobody answered. */
export class ClaimsUpdateError extends SluiceError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('SLUICE_AUTH_CLAIMS_UPDATE_FAILED', message, options);
  }
}
