const reasons: Record<number, string> = {
  400: 'Bad Request',
  404: 'Not Found',
  408: 'Request Timeout',
  421: 'Misdirected Request',
  429: 'Too Many Requests',
  431: 'Request Header Fields Too Large',
  501: 'Not Implemented',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
  505: 'HTTP Version Not Supported',
};

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** A complete `Connection: close` HTTP/1.1 response with a small HTML page. */
export function errorResponse(status: number, detail: string): Buffer {
  const reason = reasons[status] ?? 'Error';
  const body =
    `<!doctype html><html><head><meta charset="utf-8"><title>${status} ${reason}</title></head>` +
    `<body><h1>${status} ${reason}</h1><p>${escapeHtml(detail)}</p><hr><p>sluice edge</p></body></html>\n`;
  return Buffer.from(
    `HTTP/1.1 ${status} ${reason}\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\n` +
      `Connection: close\r\nCache-Control: no-store\r\nX-Sluice-Error: ${status}\r\n\r\n${body}`,
  );
}

/** TLS alert records (fatal): unrecognized_name (112) and internal_error (80). */
export const tlsAlert = {
  unrecognizedName: Buffer.from([0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 112]),
  internalError: Buffer.from([0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 80]),
};
