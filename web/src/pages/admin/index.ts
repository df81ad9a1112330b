import type { PageRoute } from '../types';
import { Contributors } from './contributors';
import { Routing } from './routing';

export const adminRoutes: PageRoute[] = [
  { pattern: '/contributors', component: Contributors, nav: { label: 'Contributors', order: 50 } },
  { pattern: '/routing', component: Routing, nav: { label: 'Routing', order: 60, visible: (s) => s.isClusterAdmin } },
];
