import type { PageRoute } from '../types';

export const pipelineRoutes: PageRoute[] = [];
