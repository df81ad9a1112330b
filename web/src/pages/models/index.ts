import type { PageRoute } from '../types';

export const modelRoutes: PageRoute[] = [];
