/**
 * Base of every error the wire parsers throw. Callers can rely on `instanceof WireError` meaning
 * "the peer sent bytes we refuse" (as opposed to a bug), and on `code` being stable across releases.
 */
export abstract class WireError extends Error {
  abstract readonly code: string;

  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
  }
}
