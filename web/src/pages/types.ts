import type { ComponentType } from 'preact';
import type { Params } from '../lib/router';
import type { Session } from '../lib/session';

// A page of the dashboard: its URL pattern, component and (for top-level pages) nav entry.
export interface PageRoute {
  pattern: string; // "/models/:ns/:name"
  component: ComponentType<{ params: Params; search: URLSearchParams }>;
  nav?: { label: string; order: number; visible?: (s: Session) => boolean };
}
