import { describe, expect, it } from 'vitest';
import { listPhase } from './list';

describe('listPhase', () => {
  it('loads until the first answer', () => {
    expect(listPhase({ data: undefined, error: undefined, loading: true }, 0)).toBe('loading');
  });
  it('shows no loading line beside an error', () => {
    expect(listPhase({ data: undefined, error: new Error('x'), loading: true }, 0)).toBe('none');
    expect(listPhase({ data: undefined, error: new Error('x'), loading: false }, 0)).toBe('none');
  });
  it('is empty when an answer has no items, even with a later error', () => {
    expect(listPhase({ data: { items: [] }, error: undefined, loading: false }, 0)).toBe('empty');
    expect(listPhase({ data: {}, error: new Error('poll failed'), loading: false }, 0)).toBe('empty');
  });
  it('keeps showing the items it has while a poll fails', () => {
    expect(listPhase({ data: { items: [1] }, error: undefined, loading: false }, 1)).toBe('items');
    expect(listPhase({ data: { items: [1, 2] }, error: new Error('poll failed'), loading: false }, 2)).toBe('items');
  });
});
