import { describe, expect, it } from 'vitest';
import { artifactBytes, artifactUrl, buildTrigger, followLog, logUrl, createFromUrlBody, createRunBody, currentToken, describeTrigger, firstPage, isFinal, listUrl, nextPage, prevPage, runDuration, runFilter, uploadUrl } from './kfp';

describe('requests', () => {
  it('builds list URLs with paging, sort and filter', () => {
    expect(listUrl('pipelines', { namespace: '' })).toBe('/apis/v2beta1/pipelines?namespace=&page_size=20');
    const u = new URL('http://x' + listUrl('runs', { namespace: 'team-a', pageToken: 'tok', sortBy: 'created_at desc', filter: runFilter({ state: 'FAILED' }), pageSize: 50 }));
    expect(u.pathname).toBe('/apis/v2beta1/runs');
    expect(u.searchParams.get('namespace')).toBe('team-a');
    expect(u.searchParams.get('page_size')).toBe('50');
    expect(u.searchParams.get('page_token')).toBe('tok');
    expect(u.searchParams.get('sort_by')).toBe('created_at desc');
    expect(JSON.parse(u.searchParams.get('filter')!)).toEqual({ predicates: [{ key: 'state', operation: 'EQUALS', string_value: 'FAILED' }] });
    expect(new URL('http://x' + listUrl('runs', { experimentId: 'e1' })).searchParams.get('experiment_id')).toBe('e1');
  });
  it('filters runs by state and name substring', () => {
    expect(runFilter({})).toBe('');
    expect(runFilter({ name: '  ' })).toBe('');
    expect(JSON.parse(runFilter({ storage: 'ARCHIVED' }))).toEqual({ predicates: [{ key: 'storage_state', operation: 'EQUALS', string_value: 'ARCHIVED' }] });
    expect(JSON.parse(runFilter({ state: 'RUNNING', name: ' iris ' }))).toEqual({
      predicates: [
        { key: 'state', operation: 'EQUALS', string_value: 'RUNNING' },
        { key: 'display_name', operation: 'IS_SUBSTRING', string_value: 'iris' },
      ],
    });
  });
  it('uploads pipelines and versions', () => {
    expect(uploadUrl({ name: 'iris', description: '', namespace: 'team-a' })).toBe('/apis/v2beta1/pipelines/upload?name=iris&namespace=team-a');
    expect(uploadUrl({ name: '', description: 'd e', namespace: '' })).toBe('/apis/v2beta1/pipelines/upload?description=d+e&namespace=');
    expect(uploadUrl({ name: 'v2', description: '', namespace: 'x', pipelineId: 'p1' })).toBe('/apis/v2beta1/pipelines/upload_version?name=v2&pipelineid=p1');
    expect(createFromUrlBody({ name: 'iris', description: '', namespace: 'team-a', url: ' http://h/iris.yaml ' })).toEqual({
      pipeline: { display_name: 'iris', description: '', namespace: 'team-a' },
      pipeline_version: { display_name: 'iris', package_url: { pipeline_url: 'http://h/iris.yaml' } },
    });
  });
  it('creates runs from a version with typed parameters', () => {
    expect(createRunBody({ name: ' r1 ', pipelineId: 'p', versionId: 'v', experimentId: 'e', parameters: { c: 0.5 } })).toEqual({
      display_name: 'r1',
      pipeline_version_reference: { pipeline_id: 'p', pipeline_version_id: 'v' },
      runtime_config: { parameters: { c: 0.5 } },
      experiment_id: 'e',
    });
  });
  it('says durations in whole seconds', () => {
    expect(runDuration('2026-11-29T00:56:11Z', '2026-11-29T00:56:11Z')).toBe('< 1s');
    expect(runDuration('2026-11-29T00:56:11Z', '2026-11-29T00:57:31Z')).toBe('1m 20s');
    expect(runDuration('2026-11-29T00:56:11Z', '1970-01-01T00:00:00Z', Date.parse('2026-11-29T00:56:20Z'))).toBe('9s');
  });
  it('knows final states', () => {
    expect(isFinal('SUCCEEDED')).toBe(true);
    expect(isFinal('CANCELED')).toBe(true);
    expect(isFinal('CANCELING')).toBe(false);
    expect(isFinal('RUNNING')).toBe(false);
    expect(isFinal(undefined)).toBe(false);
  });
});

describe('triggers', () => {
  const base = { kind: 'cron' as const, cron: '', intervalSeconds: '', start: '', end: '' };
  it('cron and periodic', () => {
    expect(buildTrigger({ ...base, cron: ' 0 0 * * * * ' })).toEqual({ trigger: { cron_schedule: { cron: '0 0 * * * *' } } });
    expect(buildTrigger({ ...base, kind: 'periodic', intervalSeconds: '3600' })).toEqual({ trigger: { periodic_schedule: { interval_second: 3600 } } });
  });
  it('says what is wrong', () => {
    expect(buildTrigger(base).error).toMatch(/cron expression/);
    expect(buildTrigger({ ...base, kind: 'periodic', intervalSeconds: '0' }).error).toMatch(/at least 1/);
    expect(buildTrigger({ ...base, kind: 'periodic', intervalSeconds: '1.5' }).error).toMatch(/whole number/);
    expect(buildTrigger({ ...base, cron: '* * * * * *', start: '2026-01-02T00:00Z', end: '2026-01-01T00:00Z' }).error).toMatch(/after the start/);
  });
  it('start and end times in RFC 3339', () => {
    const t = buildTrigger({ ...base, cron: '@hourly', start: '2026-01-01T00:00:00Z' }).trigger!;
    expect(t.cron_schedule?.start_time).toBe('2026-01-01T00:00:00Z');
  });
  it('describes triggers', () => {
    expect(describeTrigger({ periodic_schedule: { interval_second: '7200' } })).toBe('every 2h');
    expect(describeTrigger({ periodic_schedule: { interval_second: 90 } })).toBe('every 90s');
    expect(describeTrigger({ cron_schedule: { cron: '@daily' } })).toBe('cron @daily');
    expect(describeTrigger(undefined)).toBe('');
  });
});

describe('paging', () => {
  it('goes forward and back', () => {
    let s = firstPage;
    expect(currentToken(s)).toBe('');
    s = nextPage(s, 't1');
    s = nextPage(s, 't2');
    expect(currentToken(s)).toBe('t2');
    s = prevPage(s);
    expect(currentToken(s)).toBe('t1');
    expect(currentToken(prevPage(s))).toBe('');
  });
});

describe('logs and artifacts', () => {
  it('follows a growing log and restarts a replaced one', () => {
    expect(followLog(0, 157, '157')).toEqual({ next: 157, restart: false });
    expect(followLog(157, 0, '157')).toEqual({ next: 157, restart: false });
    expect(followLog(157, 20, '177')).toEqual({ next: 177, restart: false });
    expect(followLog(177, 0, '12')).toEqual({ next: 0, restart: true });
    expect(followLog(10, 5, null)).toEqual({ next: 15, restart: false });
  });
  it('decodes artifact archives and builds URLs', () => {
    expect([...artifactBytes(btoa('\x1f\x8b\x08'))]).toEqual([0x1f, 0x8b, 0x08]);
    expect(artifactUrl('r 1', 'iris-1', 'model')).toBe('/apis/v2beta1/runs/r%201/nodes/iris-1/artifacts/model:read');
    expect(logUrl('r1', 'iris-2', 157)).toBe('/pipeline/k8s/pod/logs?podname=iris-2&runid=r1&offset=157');
  });
});
