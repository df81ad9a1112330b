// Data loading for pages: useAsync runs a loader when its keys change and keeps {data, error,
// loading}; usePoll re-runs it on an interval while the page is visible (live states, logs).
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { idle, runAction, type ActionState } from './action';
import { can, type Access } from './session';

export interface AsyncState<T> {
  data: T | undefined;
  error: unknown;
  loading: boolean;
  reload: () => void;
}

export function useAsync<T>(load: (signal: AbortSignal) => Promise<T>, keys: unknown[], pollMs = 0): AsyncState<T> {
  const [data, setData] = useState<T | undefined>(undefined);
  const [error, setError] = useState<unknown>(undefined);
  const [loading, setLoading] = useState(true);
  const [tick, setTick] = useState(0);
  const loadRef = useRef(load);
  loadRef.current = load;
  const reload = useCallback(() => setTick((t) => t + 1), []);
  useEffect(() => {
    setData(undefined);
    setError(undefined);
    setLoading(true);
  }, keys);
  useEffect(() => {
    const ctl = new AbortController();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const run = () => {
      loadRef
        .current(ctl.signal)
        .then((d) => {
          if (ctl.signal.aborted) return;
          setData(d);
          setError(undefined);
        })
        .catch((e) => {
          if (!ctl.signal.aborted) setError(e);
        })
        .finally(() => {
          if (ctl.signal.aborted) return;
          setLoading(false);
          if (pollMs > 0) timer = setTimeout(run, document.hidden ? pollMs * 5 : pollMs);
        });
    };
    run();
    return () => {
      ctl.abort();
      if (timer) clearTimeout(timer);
    };
  }, [...keys, tick, pollMs]);
  return { data, error, loading, reload };
}

// A promise's value once it resolves (`initial` until then), again when `keys` change.
export function usePromise<T>(p: () => Promise<T>, keys: unknown[], initial: T): T {
  const [v, setV] = useState<T>(initial);
  useEffect(() => {
    let live = true;
    p().then((x) => live && setV(x));
    return () => {
      live = false;
    };
  }, keys);
  return v;
}

// Whether the user may do `a` in namespace `ns` (a SelfSubjectAccessReview): hides buttons they
// cannot use, the API still decides. `initial` until the review answers; false without a namespace.
export function useCanIn(ns: string, a: Omit<Access, 'namespace'>, initial = false): boolean {
  return usePromise(() => (ns ? can({ ...a, namespace: ns }) : Promise.resolve(false)), [ns, JSON.stringify(a)], initial);
}

// A button's or form's call: `run(fn)` marks it busy, clears the last error and keeps the one fn
// throws (shown with ErrorBanner); true when it worked. setError shows or clears an error by hand.
export function useAction() {
  const [state, setState] = useState<ActionState>(idle);
  const run = useCallback((fn: () => Promise<unknown>) => runAction(setState, fn), []);
  const setError = useCallback((error: unknown) => setState((s) => ({ ...s, error })), []);
  return { busy: state.busy, error: state.error, run, setError };
}
