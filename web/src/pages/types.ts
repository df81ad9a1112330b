import type { ComponentType } from 'preact';
import type { Params } from '../lib/router';

// A page of the dashboard: its URL pattern, component and (for top-level pages) nav entry.
export interface PageRoute {
  pattern: string; // "/models/:ns/:name"
  component: ComponentType<{ params: Params; search: URLSearchParams }>;
  nav?: { label: string; order: number; adminOnly?: boolean };
}
