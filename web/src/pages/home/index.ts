import type { PageRoute } from '../types';
import { Home } from './page';

export const homeRoutes: PageRoute[] = [{ pattern: '/', component: Home, nav: { label: 'Home', order: 0 } }];
