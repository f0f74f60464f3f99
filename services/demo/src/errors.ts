export type DemoErrorCode = 'SLUICE_DEMO_NOT_STARTED' | 'SLUICE_DEMO_ALREADY_STARTED' | 'SLUICE_DEMO_BAD_CONFIG';

export class DemoError extends Error {
  override readonly name = 'DemoError';
  readonly code: DemoErrorCode;
  constructor(code: DemoErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}
