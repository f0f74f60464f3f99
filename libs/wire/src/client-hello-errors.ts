import { WireError } from './wire-error.ts';

/** The first bytes are not a TLS handshake record (wrong content type or record version). */
export class NotTlsError extends WireError {
  readonly code = 'SLUICE_NOT_TLS';
}

/** The bytes look like TLS but the ClientHello (or the records carrying it) is inconsistent. */
export class MalformedClientHelloError extends WireError {
  readonly code = 'SLUICE_MALFORMED_CLIENT_HELLO';
}

/** Completing the ClientHello would need more input than the caller's `maxBytes`. */
export class ClientHelloTooLargeError extends WireError {
  readonly code = 'SLUICE_CLIENT_HELLO_TOO_LARGE';
}
