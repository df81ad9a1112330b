// Building blocks every page uses: error banners in words, empty states that say what to do,
// a confirmation dialog, status badges and page headers.
import type { ComponentChildren } from 'preact';
import { useEffect, useRef } from 'preact/hooks';
import { describeError } from '../lib/errors';

export function ErrorBanner({ error, onRetry }: { error: unknown; onRetry?: () => void }) {
  if (!error) return null;
  const d = describeError(error);
  return (
    <div class="banner error" role="alert">
      <strong>{d.title}</strong>
      <p class="msg">{d.message}</p>
      <p class="hint">{d.hint}</p>
      {onRetry && (
        <button type="button" onClick={onRetry}>
          Retry
        </button>
      )}
    </div>
  );
}

export function Empty({ title, children }: { title: string; children?: ComponentChildren }) {
  return (
    <div class="empty">
      <strong>{title}</strong>
      {children && <div class="what-next">{children}</div>}
    </div>
  );
}

export function Loading({ what }: { what: string }) {
  return (
    <p class="loading" role="status" aria-live="polite">
      Loading {what}…
    </p>
  );
}

export function PageHeader({ title, children }: { title: string; children?: ComponentChildren }) {
  return (
    <div class="page-header">
      <h1>{title}</h1>
      <div class="actions">{children}</div>
    </div>
  );
}

// A state shown as a colored badge with its text (color is never the only signal).
export function Badge({ state }: { state: string }) {
  const s = state.toLowerCase();
  let kind = 'neutral';
  if (['ready', 'succeeded', 'true', 'enabled', 'cached', 'skipped'].includes(s)) kind = 'ok';
  else if (['failed', 'error', 'false', 'canceled', 'cancelled'].includes(s)) kind = 'bad';
  else if (['running', 'pending', 'unknown', 'canceling', 'progressing', 'runtime_state_unspecified'].includes(s)) kind = 'busy';
  return <span class={`badge ${kind}`}>{state}</span>;
}

// A modal <dialog> asking to confirm a destructive action; Escape and Cancel close it.
export function Confirm(props: {
  open: boolean;
  title: string;
  children?: ComponentChildren;
  confirmLabel: string;
  onConfirm: () => void;
  onCancel: () => void;
}) {
  const ref = useRef<HTMLDialogElement>(null);
  useEffect(() => {
    const d = ref.current;
    if (!d) return;
    if (props.open && !d.open) d.showModal();
    if (!props.open && d.open) d.close();
  }, [props.open]);
  return (
    <dialog ref={ref} onCancel={(e) => (e.preventDefault(), props.onCancel())} aria-labelledby="confirm-title">
      <h2 id="confirm-title">{props.title}</h2>
      <div>{props.children}</div>
      <div class="dialog-actions">
        <button type="button" onClick={props.onCancel}>
          Cancel
        </button>
        <button type="button" class="danger" onClick={props.onConfirm}>
          {props.confirmLabel}
        </button>
      </div>
    </dialog>
  );
}
