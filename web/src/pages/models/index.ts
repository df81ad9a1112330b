import type { PageRoute } from '../types';
import { DeployModel } from './deploy';
import { ModelDetail } from './detail';
import { ModelList } from './list';

// /models/new before /models/:ns/:name (they differ in length, but keep the specific one first).
export const modelRoutes: PageRoute[] = [
  { pattern: '/models', component: ModelList, nav: { label: 'Models', order: 10 } },
  { pattern: '/models/new', component: DeployModel },
  { pattern: '/models/:ns/:name', component: ModelDetail },
];
