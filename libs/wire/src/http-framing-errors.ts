import { WireError } from './wire-error.ts';

/** A request stream the framer refuses; `status` is the HTTP status the edge should answer with. */
export abstract class HttpFramingError extends WireError {
  abstract readonly status: 400 | 431 | 501 | 505;
}

/** The request head (or a chunked body's trailer section) exceeds `maxHeadBytes`. */
export class HeadTooLargeError extends HttpFramingError {
  readonly code = 'SLUICE_HTTP_HEAD_TOO_LARGE';
  readonly status = 431;
}

/** The request violates HTTP/1.1 message syntax or framing rules. */
export class MalformedRequestError extends HttpFramingError {
  readonly code = 'SLUICE_HTTP_MALFORMED_REQUEST';
  readonly status = 400;
}

/** Transfer-Encoding is anything but a sole `chunked`. */
export class UnsupportedTransferEncodingError extends HttpFramingError {
  readonly code = 'SLUICE_HTTP_UNSUPPORTED_TRANSFER_ENCODING';
  readonly status = 501;
}

/** Not HTTP/1.0 or HTTP/1.1 (e.g. the HTTP/2 connection preface or an HTTP/0.9 request). */
export class UnsupportedVersionError extends HttpFramingError {
  readonly code = 'SLUICE_HTTP_UNSUPPORTED_VERSION';
  readonly status = 505;
}
