export { WireError } from './wire-error.ts';

export {
  parseClientHello,
  DEFAULT_CLIENT_HELLO_MAX_BYTES,
  type ClientHelloResult,
  type ParseClientHelloOptions,
} from './client-hello.ts';
export { NotTlsError, MalformedClientHelloError, ClientHelloTooLargeError } from './client-hello-errors.ts';

export {
  HttpRequestFramer,
  DEFAULT_MAX_HEAD_BYTES,
  DEFAULT_MAX_CHUNK_LINE_BYTES,
  type FramerOutput,
  type HttpRequestFramerOptions,
} from './http-request-framer.ts';
export type { RequestHead } from './http-request-head.ts';
export {
  HttpFramingError,
  HeadTooLargeError,
  MalformedRequestError,
  UnsupportedTransferEncodingError,
  UnsupportedVersionError,
} from './http-framing-errors.ts';
