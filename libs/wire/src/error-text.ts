// How attacker-supplied bytes and strings appear in error messages: short, quoted, never raw.

/** A byte: printable ones quoted, the rest as hex. */
export function describeByte(b: number): string {
  const hex = `0x${b.toString(16).padStart(2, '0')}`;
  return b > 0x20 && b < 0x7f ? `'${String.fromCharCode(b)}' (${hex})` : hex;
}

/** A string: JSON-quoted (so control characters are escaped) and cut to a readable length. */
export function quote(s: string, max = 64): string {
  return JSON.stringify(s.length > max ? `${s.slice(0, max)}...` : s);
}
