// Byte classes from RFC 9110 5.6.2 / 5.5 and RFC 9112 7.1, as 256-entry tables so that the hot
// loops do one indexed load per byte.

export const CR = 0x0d;
export const LF = 0x0a;
export const SP = 0x20;
export const HTAB = 0x09;
export const COLON = 0x3a;
export const SEMICOLON = 0x3b;

/** tchar: "!" / "#" / "$" / "%" / "&" / "'" / "*" / "+" / "-" / "." / "^" / "_" / "`" / "|" / "~" / DIGIT / ALPHA */
export const TCHAR = new Uint8Array(256);
for (const c of "!#$%&'*+-.^_`|~") TCHAR[c.charCodeAt(0)] = 1;
for (let c = 0x30; c <= 0x39; c++) TCHAR[c] = 1;
for (let c = 0x41; c <= 0x5a; c++) TCHAR[c] = 1;
for (let c = 0x61; c <= 0x7a; c++) TCHAR[c] = 1;

/** field-value bytes: HTAB, SP, VCHAR, obs-text. Everything else (CTLs, DEL) is refused. */
export const FIELD_VALUE_CHAR = new Uint8Array(256);
FIELD_VALUE_CHAR[HTAB] = 1;
for (let c = 0x20; c <= 0x7e; c++) FIELD_VALUE_CHAR[c] = 1;
for (let c = 0x80; c <= 0xff; c++) FIELD_VALUE_CHAR[c] = 1;

/** request-target bytes: visible ASCII only (no space, no CTL, no obs-text). */
export const TARGET_CHAR = new Uint8Array(256);
for (let c = 0x21; c <= 0x7e; c++) TARGET_CHAR[c] = 1;

/** Hex digit value, or 0xff for a non-hex byte. */
export const HEX_VALUE = new Uint8Array(256).fill(0xff);
for (let c = 0; c <= 9; c++) HEX_VALUE[0x30 + c] = c;
for (let c = 0; c < 6; c++) {
  HEX_VALUE[0x41 + c] = 10 + c;
  HEX_VALUE[0x61 + c] = 10 + c;
}
