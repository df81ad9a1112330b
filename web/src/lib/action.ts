// The state of a call a button or form makes ("confirm, call the API, then reload or show the
// error"): busy while it runs, the error it ended with (cleared when the next one starts).
// Pure: the page's hook (useAction in hooks.ts) passes its state setter.

export interface ActionState {
  busy: boolean;
  error: unknown;
}

export const idle: ActionState = { busy: false, error: null };

// Runs `fn`, reporting each state through `set`; true when it worked.
export async function runAction(set: (s: ActionState) => void, fn: () => Promise<unknown>): Promise<boolean> {
  set({ busy: true, error: null });
  try {
    await fn();
    set(idle);
    return true;
  } catch (e) {
    set({ busy: false, error: e });
    return false;
  }
}
