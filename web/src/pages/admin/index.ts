import type { PageRoute } from '../types';

export const adminRoutes: PageRoute[] = [];
