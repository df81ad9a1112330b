// What a list fed by useAsync shows: "Loading…" before its first answer, its empty state once an
// answer has no items, else its items (errors are shown beside any of them, by ErrorBanner).
// Pure; AsyncList in components/common.tsx renders it.

export type ListPhase = 'loading' | 'empty' | 'items' | 'none';

export function listPhase(s: { data: unknown; error: unknown; loading: boolean }, count: number): ListPhase {
  if (count > 0) return 'items';
  if (s.data) return 'empty';
  if (s.loading && !s.error) return 'loading';
  return 'none';
}
