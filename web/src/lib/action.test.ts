import { describe, expect, it } from 'vitest';
import { idle, runAction, type ActionState } from './action';

describe('runAction', () => {
  it('is busy while the call runs, then idle without an error', async () => {
    const seen: ActionState[] = [];
    let busyInside: boolean | undefined;
    const ok = await runAction(
      (s) => seen.push(s),
      async () => {
        busyInside = seen[seen.length - 1]?.busy;
      },
    );
    expect(ok).toBe(true);
    expect(busyInside).toBe(true);
    expect(seen).toEqual([{ busy: true, error: null }, idle]);
  });
  it('keeps the error the call threw and clears the previous one first', async () => {
    const seen: ActionState[] = [{ busy: false, error: new Error('old') }];
    const boom = new Error('Could not delete');
    const ok = await runAction(
      (s) => seen.push(s),
      () => Promise.reject(boom),
    );
    expect(ok).toBe(false);
    expect(seen.slice(1)).toEqual([{ busy: true, error: null }, { busy: false, error: boom }]);
  });
  it('reports a synchronous throw inside an async function as the error', async () => {
    let last: ActionState = idle;
    const ok = await runAction(
      (s) => (last = s),
      async () => {
        throw 'bad';
      },
    );
    expect(ok).toBe(false);
    expect(last).toEqual({ busy: false, error: 'bad' });
  });
});
