/** Base class of every error Sluice raises on purpose; `code` is stable and documented. */
export class SluiceError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

export class InvalidMessageError extends SluiceError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('SLUICE_INVALID_MESSAGE', message, options);
  }
}

export class InvalidConfigError extends SluiceError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('SLUICE_INVALID_CONFIG', message, options);
  }
}
