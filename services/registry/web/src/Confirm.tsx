import { useEffect, useRef, useState, type ReactNode } from 'react';

/** A button that asks once more, in place (no modal dialog to trap the keyboard). */
export function ConfirmButton({ label, question, confirmLabel, danger = false, onConfirm, children }: {
  label: string;
  question: ReactNode;
  confirmLabel: string;
  danger?: boolean;
  onConfirm: () => Promise<void>;
  children?: ReactNode;
}) {
  const [asking, setAsking] = useState(false);
  const [busy, setBusy] = useState(false);
  const confirm = useRef<HTMLButtonElement>(null);
  useEffect(() => {
    if (asking) confirm.current?.focus();
  }, [asking]);
  if (!asking) {
    return <button type="button" className={danger ? 'danger-outline' : 'secondary'} onClick={() => setAsking(true)}>{label}{children}</button>;
  }
  return (
    <div className="confirm" role="group" aria-label={label}>
      <span>{question}</span>
      <button
        ref={confirm}
        type="button"
        className={danger ? 'danger' : ''}
        disabled={busy}
        onClick={() => {
          setBusy(true);
          void onConfirm().finally(() => {
            setBusy(false);
            setAsking(false);
          });
        }}
      >
        {confirmLabel}
      </button>
      <button type="button" className="secondary" onClick={() => setAsking(false)}>Cancel</button>
    </div>
  );
}
