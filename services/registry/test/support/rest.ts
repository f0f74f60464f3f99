/** A REST answer: the status and the body, parsed as JSON when it is JSON (else the text). */
export interface RestReply {
  status: number;
  json: any;
}

/**
 * Calls the registry's REST API at `base()` (a function: a test may restart the registry on
 * another port) with a bearer token; `body` is sent as JSON, `raw` as it is (malformed bodies).
 */
export function restClient(base: () => string) {
  return async function api(method: string, path: string, token: string | undefined, body?: unknown, raw?: string): Promise<RestReply> {
    const res = await fetch(base() + path, {
      method,
      headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body !== undefined || raw !== undefined ? { 'content-type': 'application/json' } : {}) },
      ...(raw !== undefined ? { body: raw } : body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    const text = await res.text();
    let json: any;
    try {
      json = text ? JSON.parse(text) : undefined;
    } catch {
      json = text;
    }
    return { status: res.status, json };
  };
}
