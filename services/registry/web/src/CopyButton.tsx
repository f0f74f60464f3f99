import { useEffect, useState } from 'react';

async function copyText(text: string): Promise<void> {
  try {
    await navigator.clipboard.writeText(text);
  } catch {
    // no clipboard permission (or not a secure context): the old way, through a selection
    const area = document.createElement('textarea');
    area.value = text;
    area.setAttribute('readonly', '');
    area.className = 'offscreen';
    document.body.append(area);
    area.select();
    document.execCommand('copy');
    area.remove();
  }
}

/** Copies `text`; says so to sighted and screen-reader users alike. */
export function CopyButton({ text, label }: { text: string; label: string }) {
  const [copied, setCopied] = useState(false);
  useEffect(() => {
    if (!copied) return;
    const t = setTimeout(() => setCopied(false), 2000);
    return () => clearTimeout(t);
  }, [copied]);
  return (
    <>
      <button type="button" className="copy" aria-label={`Copy ${label}`} onClick={() => void copyText(text).then(() => setCopied(true))}>
        {copied ? 'Copied' : 'Copy'}
      </button>
      <span className="visually-hidden" role="status">{copied ? `${label} copied` : ''}</span>
    </>
  );
}

/** A value to copy: shown in full (wrapping), with its copy button. */
export function CopyField({ label, value, multiline = false }: { label: string; value: string; multiline?: boolean }) {
  return (
    <div className="field">
      <span className="field-label">{label}</span>
      <div className="copyable">
        {multiline ? <pre tabIndex={0}>{value}</pre> : <code>{value}</code>}
        <CopyButton text={value} label={label} />
      </div>
    </div>
  );
}
