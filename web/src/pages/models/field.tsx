// A labelled input with its help and error below it, outside the <label>, so that the input's
// accessible name is exactly the label ("Name") and the help and error are its description.
import type { ComponentChildren } from 'preact';

export function Field(props: { id: string; label: string; help?: ComponentChildren; error?: string; wide?: boolean; children: ComponentChildren }) {
  return (
    <div class={`models-field${props.wide ? ' models-wide' : ''}`}>
      <label for={props.id}>{props.label}</label>
      {props.children}
      {props.help && (
        <span class="help" id={`${props.id}-help`}>
          {props.help}
        </span>
      )}
      {props.error && (
        <span class="models-field-error" id={`${props.id}-error`}>
          {props.error}
        </span>
      )}
    </div>
  );
}

// aria attributes for the input of a Field.
export function described(id: string, error: string | undefined, hasHelp = true) {
  const ids = [error ? `${id}-error` : '', hasHelp ? `${id}-help` : ''].filter(Boolean).join(' ');
  return { id, 'aria-invalid': error ? true : undefined, 'aria-describedby': ids || undefined };
}
