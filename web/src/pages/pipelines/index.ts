// The Pipelines pages (KFP v2beta1 API): pipelines and their versions, experiments, runs with a
// live graph and task logs, recurring runs.
import type { PageRoute } from '../types';
import { ExperimentPage, ExperimentsPage } from './experiments';
import { PipelinePage } from './pipeline';
import { PipelinesPage } from './pipelines';
import { RecurringPage } from './recurring';
import { RunPage } from './run';
import { NewRunPage } from './run-new';
import { RunsPage } from './runs';

export const pipelineRoutes: PageRoute[] = [
  { pattern: '/pipelines', component: PipelinesPage, nav: { label: 'Pipelines', order: 20 } },
  { pattern: '/pipelines/:id', component: PipelinePage },
  { pattern: '/experiments', component: ExperimentsPage, nav: { label: 'Experiments', order: 21 } },
  { pattern: '/experiments/:id', component: ExperimentPage },
  { pattern: '/runs', component: RunsPage, nav: { label: 'Runs', order: 22 } },
  // Before /runs/:id, which would take "new" for a run id.
  { pattern: '/runs/new', component: NewRunPage },
  { pattern: '/runs/:id', component: RunPage },
  { pattern: '/recurring', component: RecurringPage, nav: { label: 'Recurring runs', order: 23 } },
];
