import { describe, expect, it } from 'vitest';
import {
  buildInferenceService,
  canaryPatch,
  emptyForm,
  fieldErrorsFromApi,
  parsePercent,
  predictorInfo,
  readiness,
  revisions,
  shortRevision,
  trafficSummary,
  validateForm,
  type InferenceService,
} from './isvc';
import { formatMs, formatRate, pushHistory, rateBetween, sampleOf, sparklinePath } from './stats';
import { prettyJson, toYaml } from './show';
import { bodyProblem, predictPath, predictionsOf, sampleBody } from './try';

// What skiff wrote for the demo (GET .../inferenceservices, trimmed).
const ready: InferenceService = {
  metadata: { name: 'sklearn-iris', namespace: 'kserve-test', generation: 1 },
  spec: { predictor: { model: { modelFormat: { name: 'sklearn' }, storageUri: 'file:///d/sklearn-iris' } } },
  status: {
    observedGeneration: 1,
    url: 'http://sklearn-iris.kserve-test.example.com',
    conditions: [
      { type: 'IngressReady', status: 'True' },
      { type: 'PredictorReady', status: 'True' },
      { type: 'Ready', status: 'True' },
    ],
    components: {
      predictor: {
        latestCreatedRevision: 'sklearn-iris-predictor-00001',
        latestReadyRevision: 'sklearn-iris-predictor-00001',
        latestRolledoutRevision: 'sklearn-iris-predictor-00001',
        traffic: [{ revisionName: 'sklearn-iris-predictor-00001', percent: 100, latestRevision: true, tag: 'latest' }],
      },
    },
  },
};

const canary: InferenceService = {
  metadata: { name: 'm', generation: 2 },
  spec: { predictor: { canaryTrafficPercent: 20, xgboost: { storageUri: 's3://b/m', protocolVersion: 'v2' } } },
  status: {
    observedGeneration: 2,
    conditions: [{ type: 'Ready', status: 'True' }],
    components: {
      predictor: {
        latestCreatedRevision: 'm-predictor-00002',
        latestReadyRevision: 'm-predictor-00002',
        latestRolledoutRevision: 'm-predictor-00001',
        previousRolledoutRevision: 'm-predictor-00001',
        traffic: [
          { revisionName: 'm-predictor-00001', percent: 80, latestRevision: false, tag: 'prev' },
          { revisionName: 'm-predictor-00002', percent: 20, latestRevision: true, tag: 'latest' },
        ],
      },
    },
  },
};

describe('readiness', () => {
  it('is Ready when the Ready condition is True', () => {
    expect(readiness(ready)).toEqual({ state: 'Ready', reason: '', message: '' });
  });
  it('gives the reason and message of a failed model', () => {
    const failed: InferenceService = {
      metadata: { name: 'x' },
      status: {
        conditions: [{ type: 'Ready', status: 'False', reason: 'NoSupportingRuntime', message: 'no runtime serves "onnx"' }],
      },
    };
    expect(readiness(failed)).toEqual({ state: 'Failed', reason: 'NoSupportingRuntime', message: 'no runtime serves "onnx"' });
  });
  it('falls back to lastFailureInfo when the condition has no reason', () => {
    const failed: InferenceService = {
      metadata: { name: 'x' },
      status: { conditions: [{ type: 'Ready', status: 'False' }], modelStatus: { lastFailureInfo: { reason: 'ModelLoadFailed', message: 'no file' } } },
    };
    expect(readiness(failed)).toMatchObject({ state: 'Failed', reason: 'ModelLoadFailed', message: 'no file' });
  });
  it('is Pending while loading, before the first status, and while a new generation is applied', () => {
    expect(readiness({ metadata: { name: 'x' } }).state).toBe('Pending');
    const loading: InferenceService = {
      metadata: { name: 'x' },
      status: { conditions: [{ type: 'Ready', status: 'Unknown', reason: 'RevisionLoading', message: 'loading revision x-00001' }] },
    };
    expect(readiness(loading)).toEqual({ state: 'Pending', reason: 'RevisionLoading', message: 'loading revision x-00001' });
    expect(readiness({ ...ready, metadata: { ...ready.metadata, generation: 2 } })).toMatchObject({ state: 'Pending', reason: 'Updating' });
  });
});

describe('predictor and traffic', () => {
  it('reads the model block and framework blocks', () => {
    expect(predictorInfo(ready)).toEqual({ format: 'sklearn', runtime: '', storageUri: 'file:///d/sklearn-iris', protocol: 'v1' });
    expect(predictorInfo(canary)).toEqual({ format: 'xgboost', runtime: '', storageUri: 's3://b/m', protocol: 'v2' });
    expect(predictorInfo({ metadata: { name: 'c' }, spec: { predictor: { containers: [] } } }).format).toBe('custom');
    expect(
      predictorInfo({
        metadata: { name: 'c' },
        spec: { predictor: { model: { modelFormat: { name: 'SKLearn' }, runtime: 'python', storageUri: '/m', protocolVersion: 'v2' } } },
      }),
    ).toEqual({ format: 'sklearn', runtime: 'python', storageUri: '/m', protocol: 'v2' });
    // A framework block takes the predictor's protocol unless it names its own.
    expect(
      predictorInfo({ metadata: { name: 'c' }, spec: { predictor: { protocolVersion: 'v2', sklearn: { storageUri: '/s', runtime: 'skiff-sklearn' } } } }),
    ).toEqual({ format: 'sklearn', runtime: 'skiff-sklearn', storageUri: '/s', protocol: 'v2' });
    expect(predictorInfo({ metadata: { name: 'e' } })).toEqual({ format: '', runtime: '', storageUri: '', protocol: 'v1' });
  });
  it('summarizes the split with the canary', () => {
    expect(trafficSummary(ready)).toBe('100% 00001');
    expect(trafficSummary(canary)).toBe('80% 00001 · 20% 00002 (canary)');
    expect(trafficSummary({ metadata: { name: 'x' } })).toBe('no traffic yet');
    expect(shortRevision('a-predictor-00012')).toBe('00012');
    expect(shortRevision('odd')).toBe('odd');
  });
  it('lists revisions newest first with roles and traffic', () => {
    expect(revisions(canary)).toEqual([
      { name: 'm-predictor-00002', roles: ['latest created', 'latest ready'], percent: 20 },
      { name: 'm-predictor-00001', roles: ['rolled out', 'previous rolled out'], percent: 80 },
    ]);
  });
});

describe('deploying', () => {
  it('builds the InferenceService from the form', () => {
    const isvc = buildInferenceService('team-a', { ...emptyForm, name: ' iris ', storageUri: ' s3://m/iris ' });
    expect(isvc).toEqual({
      apiVersion: 'serving.kserve.io/v1beta1',
      kind: 'InferenceService',
      metadata: { name: 'iris', namespace: 'team-a' },
      spec: { predictor: { model: { modelFormat: { name: 'sklearn' }, storageUri: 's3://m/iris' } } },
    });
    const full = buildInferenceService('t', { name: 'x', format: 'xgboost', storageUri: '/m', runtime: 'skiff-xgboost', runtimeVersion: '2.0', protocol: 'v2' });
    expect(full.spec?.predictor).toEqual({
      model: { modelFormat: { name: 'xgboost' }, storageUri: '/m', runtime: 'skiff-xgboost', runtimeVersion: '2.0', protocolVersion: 'v2' },
    });
  });
  it('checks the name and storage URI before sending', () => {
    expect(validateForm({ ...emptyForm, name: 'iris', storageUri: '/m' })).toEqual({});
    expect(Object.keys(validateForm(emptyForm)).sort()).toEqual(['name', 'storageUri']);
    expect(validateForm({ ...emptyForm, name: '1iris', storageUri: '/m' }).name).toMatch(/starting with a letter/);
    expect(validateForm({ ...emptyForm, name: 'Iris', storageUri: '/m' }).name).toBeTruthy();
    expect(validateForm({ ...emptyForm, name: 'iris-', storageUri: '/m' }).name).toBeTruthy();
    expect(validateForm({ ...emptyForm, name: 'a'.repeat(64), storageUri: '/m' }).name).toMatch(/63/);
    expect(validateForm({ ...emptyForm, name: 'a', storageUri: '/m', format: 'onnx' }).format).toBeTruthy();
  });
  it('maps API field errors to form fields, from a Status body or its message', () => {
    const body = JSON.stringify({
      kind: 'Status',
      code: 422,
      details: {
        causes: [
          { field: 'spec.predictor.model.storageUri', message: 'Required value: storageUri is required' },
          { field: 'metadata.name', message: 'Invalid value: "1x": must start with a letter' },
        ],
      },
    });
    expect(fieldErrorsFromApi(body)).toEqual({ storageUri: 'Required value: storageUri is required', name: 'Invalid value: "1x": must start with a letter' });
    // skiff's message for two errors (src/api/errors.cpp InvalidResponse)
    const msg =
      'InferenceService "1x" is invalid: [metadata.name: Invalid value: "1x": a DNS-1035 label must start with an alphabetic character, ' +
      'spec.predictor.model.storageUri: Required value: storageUri is required: where the model files are (a path, file://, http(s)://, s3://)]';
    const errs = fieldErrorsFromApi(msg);
    expect(errs.name).toBe('Invalid value: "1x": a DNS-1035 label must start with an alphabetic character');
    expect(errs.storageUri).toBe('Required value: storageUri is required: where the model files are (a path, file://, http(s)://, s3://)');
    expect(fieldErrorsFromApi('InferenceService "x" is invalid: spec.predictor.model.protocolVersion: Unsupported value: "v3"').protocol).toMatch(/v3/);
    expect(fieldErrorsFromApi('inferenceservices "x" already exists')).toEqual({});
  });
  it('patches the canary percent, null removing it', () => {
    expect(canaryPatch(20)).toEqual({ spec: { predictor: { canaryTrafficPercent: 20 } } });
    expect(JSON.stringify(canaryPatch(null))).toBe('{"spec":{"predictor":{"canaryTrafficPercent":null}}}');
    expect(parsePercent('25')).toBe(25);
    expect(parsePercent(' ')).toBeNull();
    expect(parsePercent('101')).toBe('invalid');
    expect(parsePercent('2.5')).toBe('invalid');
    expect(parsePercent('-1')).toBe('invalid');
  });
});

describe('stats', () => {
  const s = (at: string, total: number, e4: number, count: number, sum: number) =>
    sampleOf({ requests: { total, '4xx': e4, '5xx': 1 }, latency: { count, sum_seconds: sum }, sampledAt: at }, 0);
  it('computes rates from deltas between polls', () => {
    const a = s('2026-11-29T00:00:00Z', 10, 1, 10, 0.1);
    const b = s('2026-11-29T00:00:02Z', 16, 3, 16, 0.16);
    const r = rateBetween(a, b)!;
    expect(r.perSecond).toBeCloseTo(3);
    expect(r.errorsPerSecond).toBeCloseTo(1);
    expect(r.meanLatencyMs).toBeCloseTo(10);
    expect(rateBetween(a, a)).toBeNull(); // no time passed
    expect(rateBetween(b, a)).toBeNull(); // went back
    expect(rateBetween(a, s('2026-11-29T00:00:05Z', 10, 1, 10, 0.1))).toEqual({ perSecond: 0, errorsPerSecond: 0, meanLatencyMs: null });
  });
  it('uses the browser time when skiff gives none', () => {
    expect(sampleOf({}, 1234)).toEqual({ at: 1234, total: 0, errors: 0, latencyCount: 0, latencySum: 0 });
  });
  it('keeps a bounded history and draws it', () => {
    expect(pushHistory([1, 2, 3], 4, 3)).toEqual([2, 3, 4]);
    expect(sparklinePath([], 100, 20)).toBe('');
    expect(sparklinePath([0, 2, 1], 100, 20)).toBe('M0,20 L50,0 L100,10');
    expect(sparklinePath([0, 0], 10, 20)).toBe('M0,20 L10,20');
    expect(sparklinePath([5], 10, 20)).toBe('M10,0');
    expect(sparklinePath([4, 4], 10, 20, 1, 2)).toBe('M0,10 L10,10'); // headroom: a steady rate sits mid-height
  });
  it('formats rates and latencies', () => {
    expect(formatRate(0)).toBe('0/s');
    expect(formatRate(0.05)).toBe('3.0/min');
    expect(formatRate(2.345)).toBe('2.35/s');
    expect(formatRate(120.4)).toBe('120/s');
    expect(formatMs(undefined)).toBe('–');
    expect(formatMs(3.14159)).toBe('3.14 ms');
    expect(formatMs(250)).toBe('250.0 ms');
    expect(formatMs(1500)).toBe('1.50 s');
  });
});

describe('showing JSON and YAML', () => {
  it('keeps predictions on one line', () => {
    expect(prettyJson({ predictions: [1, 1] })).toBe('{\n  "predictions": [1, 1]\n}');
    expect(prettyJson({ instances: [[6.8, 2.8], [6, 3.4]] })).toBe('{\n  "instances": [[6.8, 2.8], [6, 3.4]]\n}');
    const v2 = { model_name: 'm', outputs: [{ name: 'output-0', shape: [2], data: [1, 1] }] };
    expect(prettyJson(v2)).toContain('"data": [1, 1]');
    expect(JSON.parse(prettyJson(v2))).toEqual(v2);
    expect(prettyJson([])).toBe('[]');
    expect(prettyJson({})).toBe('{}');
    expect(prettyJson('x')).toBe('"x"');
  });
  it('writes block YAML that reads back as the object', () => {
    const obj = {
      apiVersion: 'serving.kserve.io/v1beta1',
      metadata: { name: 'iris', labels: {}, generation: 1 },
      spec: { predictor: { model: { modelFormat: { name: 'sklearn' }, storageUri: 'file:///m', env: [{ name: 'A', value: 'true' }] } } },
      status: { conditions: [{ type: 'Ready', status: 'True' }], empty: [] },
    };
    expect(toYaml(obj)).toBe(
      [
        'apiVersion: serving.kserve.io/v1beta1',
        'metadata:',
        '  name: iris',
        '  labels: {}',
        '  generation: 1',
        'spec:',
        '  predictor:',
        '    model:',
        '      modelFormat:',
        '        name: sklearn',
        '      storageUri: file:///m',
        '      env:',
        '      - name: A',
        '        value: "true"',
        'status:',
        '  conditions:',
        '  - type: Ready',
        '    status: "True"',
        '  empty: []',
        '',
      ].join('\n'),
    );
    expect(toYaml({ a: '', b: '12', c: 'x: y', d: '-x', e: null })).toBe('a: ""\nb: "12"\nc: "x: y"\nd: "-x"\ne: null\n');
    expect(toYaml({ list: [1, 'two'] })).toBe('list:\n- 1\n- two\n');
  });
});

describe('try it', () => {
  it('uses the path-based URLs', () => {
    expect(predictPath('v1', 'team-a', 'iris')).toBe('/serving/team-a/iris/v1/models/iris:predict');
    expect(predictPath('v2', 'team-a', 'iris')).toBe('/serving/team-a/iris/v2/models/iris/infer');
  });
  it('fills in the iris samples', () => {
    expect(sampleBody('v1')).toBe('{"instances": [[6.8, 2.8, 4.8, 1.4], [6.0, 3.4, 4.5, 1.6]]}');
    expect(JSON.parse(sampleBody('v1', [[1, 2.5]]))).toEqual({ instances: [[1, 2.5]] });
    expect(sampleBody('v2')).toContain('"data": [6.8, 2.8, 4.8, 1.4, 6, 3.4, 4.5, 1.6]');
    expect(JSON.parse(sampleBody('v2'))).toEqual({
      inputs: [{ name: 'input-0', shape: [2, 4], datatype: 'FP64', data: [6.8, 2.8, 4.8, 1.4, 6, 3.4, 4.5, 1.6] }],
    });
  });
  it('checks the body and finds the predictions', () => {
    expect(bodyProblem('')).toMatch(/empty/);
    expect(bodyProblem('{')).toMatch(/not valid JSON/);
    expect(bodyProblem('[1]')).toMatch(/object/);
    expect(bodyProblem('{"instances":[]}')).toBe('');
    expect(predictionsOf({ predictions: [1, 1] })).toEqual([1, 1]);
    expect(predictionsOf({ outputs: [{ data: [0, 2] }] })).toEqual([0, 2]);
    expect(predictionsOf({ error: 'x' })).toBeNull();
    expect(predictionsOf(null)).toBeNull();
  });
});
