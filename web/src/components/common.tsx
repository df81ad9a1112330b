// Building blocks every page uses: error banners in words, empty states that say what to do,
// a confirmation dialog, status badges, page headers, tabs, tables and lists loaded by useAsync.
import type { ComponentChildren } from 'preact';
import { useEffect, useRef } from 'preact/hooks';
import { describeError } from '../lib/errors';
import type { AsyncState } from '../lib/hooks';
import { listPhase } from '../lib/list';

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

// A list loaded by useAsync: its error (with Retry), "Loading <what>…" before the first answer,
// `empty` when an answer has no items, else `children` (the items).
export function AsyncList(props: { state: AsyncState<unknown>; what: string; count: number; empty: ComponentChildren; children: ComponentChildren }) {
  const phase = listPhase(props.state, props.count);
  return (
    <>
      <ErrorBanner error={props.state.error} onRetry={props.state.reload} />
      {phase === 'loading' && <Loading what={props.what} />}
      {phase === 'empty' && props.empty}
      {phase === 'items' && props.children}
    </>
  );
}

// A page shown instead of a detail page whose object could not be loaded.
export function LoadFailed(props: { title: string; state: AsyncState<unknown>; back: string; backText: string }) {
  return (
    <>
      <PageHeader title={props.title} />
      <ErrorBanner error={props.state.error} onRetry={props.state.reload} />
      <p>
        <a href={props.back}>{props.backText}</a>
      </p>
    </>
  );
}

// A column heading: its text (false leaves the column out), or one only screen readers read
// (above a column of buttons, where a visible heading would only take room).
export type Column = string | false | { hidden: string };

// A table that scrolls sideways on a narrow window; `children` are its body's rows.
export function Table(props: { columns: Column[]; testid?: string; children: ComponentChildren }) {
  return (
    <div class="table-wrap">
      <table data-testid={props.testid}>
        <thead>
          <tr>
            {props.columns.map((c, i) =>
              c === false ? null : typeof c === 'string' ? (
                <th key={i} scope="col">
                  {c}
                </th>
              ) : (
                <th key={i} scope="col" class="pl-sr-host">
                  <span class="pl-sr">{c.hidden}</span>
                </th>
              ),
            )}
          </tr>
        </thead>
        <tbody>{props.children}</tbody>
      </table>
    </div>
  );
}

// A row of tabs (role tablist, named by `label`), one per [value, text]; `controls` names the
// panel they switch.
export function Tabs<T>(props: { label: string; value: T; options: [T, ComponentChildren][]; onChange: (v: T) => void; controls?: string }) {
  return (
    <div class="tabs" role="tablist" aria-label={props.label}>
      {props.options.map(([v, text]) => (
        <button key={String(v)} type="button" role="tab" aria-selected={v === props.value} aria-controls={props.controls} onClick={() => props.onChange(v)}>
          {text}
        </button>
      ))}
    </div>
  );
}
