import { SluiceError } from '@sluice/contracts';

export type DnsWireErrorCode =
  | 'SLUICE_DNS_SHORT_HEADER'
  | 'SLUICE_DNS_TRUNCATED'
  | 'SLUICE_DNS_BAD_LABEL'
  | 'SLUICE_DNS_BAD_POINTER'
  | 'SLUICE_DNS_NAME_TOO_LONG'
  | 'SLUICE_DNS_BAD_COUNTS'
  | 'SLUICE_DNS_BAD_OPT'
  | 'SLUICE_DNS_BAD_TSIG'
  | 'SLUICE_DNS_TRAILING_BYTES';

/** A DNS message that is not well formed; the server answers FORMERR (or nothing) and goes on. */
export class DnsWireError extends SluiceError {
  declare readonly code: DnsWireErrorCode;
  /** Byte offset where reading stopped. */
  readonly offset: number;
  constructor(code: DnsWireErrorCode, offset: number, message: string) {
    super(code, `${message} (at byte ${offset})`);
    this.offset = offset;
  }
}
