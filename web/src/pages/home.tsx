import type { PageRoute } from './types';
import { PageHeader } from '../components/common';
import { useApp } from '../app-context';

function Home() {
  const { ns } = useApp();
  return <PageHeader title={`Home: ${ns || 'no namespace'}`} />;
}

export const homeRoutes: PageRoute[] = [{ pattern: '/', component: Home, nav: { label: 'Home', order: 0 } }];
