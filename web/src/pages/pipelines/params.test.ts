import { describe, expect, it } from 'vitest';
import { defaultText, parseParam, pipelineParams, runParameters, typeWords, type ParamDef } from './params';
import { loadYaml } from './testdata';

describe('parameters from specs', () => {
  it('iris-v2: c, a float defaulting to 1.0', () => {
    const ps = pipelineParams(loadYaml('examples/pipelines/iris-v2.yaml'));
    expect(ps).toEqual([{ name: 'c', type: 'NUMBER_DOUBLE', default: 1, optional: true }]);
    expect(defaultText(ps[0])).toBe('1.0');
    expect(typeWords(ps[0])).toBe('float');
  });
  it('iris-v1: c from the Argo arguments, typed by the SDK annotation', () => {
    const ps = pipelineParams(loadYaml('examples/pipelines/iris-v1.yaml'));
    expect(ps).toEqual([{ name: 'c', type: 'STRING', default: '1.0', optional: true, argo: true, description: 'type Float' }]);
  });
  it('add_numbers: required integers', () => {
    const ps = pipelineParams(loadYaml('v2-ir/add_numbers.yaml'));
    expect(ps.map((p) => `${p.name}:${p.type}:${p.optional}`)).toEqual(['a:NUMBER_INTEGER:false', 'b:NUMBER_INTEGER:false']);
  });
  it('arguments_parameters: a default and a required string', () => {
    const ps = pipelineParams(loadYaml('v2-ir/arguments_parameters.yaml'));
    expect(ps).toEqual([
      { name: 'param1', type: 'STRING', default: 'hello', optional: true },
      { name: 'param2', type: 'STRING', optional: false },
    ]);
  });
  it('recursive_while: Argo values as strings', () => {
    expect(pipelineParams(loadYaml('v1-argo/recursive_while.yaml'))).toMatchObject([{ name: 'maxVal', default: '12', argo: true }]);
  });
  it('none for hello_world or no spec', () => {
    expect(pipelineParams(loadYaml('v2-ir/hello_world.yaml'))).toEqual([]);
    expect(pipelineParams(undefined)).toEqual([]);
  });
});

describe('form values', () => {
  const int: ParamDef = { name: 'n', type: 'NUMBER_INTEGER', optional: false };
  const dbl: ParamDef = { name: 'c', type: 'NUMBER_DOUBLE', optional: true, default: 1 };
  it('parses by type and says what is wrong', () => {
    expect(parseParam(int, '42')).toEqual({ ok: true, value: 42 });
    expect(parseParam(int, '4.5')).toMatchObject({ ok: false, error: expect.stringMatching(/whole number/) });
    expect(parseParam(int, '')).toMatchObject({ ok: false, error: expect.stringMatching(/no default/) });
    expect(parseParam(dbl, '0.5')).toEqual({ ok: true, value: 0.5 });
    expect(parseParam(dbl, 'abc')).toMatchObject({ ok: false });
    expect(parseParam(dbl, ' ')).toEqual({ ok: true, omit: true });
    expect(parseParam({ name: 'b', type: 'BOOLEAN', optional: false }, 'true')).toEqual({ ok: true, value: true });
    expect(parseParam({ name: 'l', type: 'LIST', optional: false }, '[1, "a"]')).toEqual({ ok: true, value: [1, 'a'] });
    expect(parseParam({ name: 'l', type: 'LIST', optional: false }, '{"a": 1}')).toMatchObject({ ok: false });
    expect(parseParam({ name: 's', type: 'STRUCT', optional: false }, '{"a": 1}')).toEqual({ ok: true, value: { a: 1 } });
    expect(parseParam({ name: 's', type: 'STRING', optional: false }, ' keep spaces ')).toEqual({ ok: true, value: ' keep spaces ' });
    expect(parseParam({ name: 'x', type: 'STRING', optional: false, argo: true }, '0.5')).toEqual({ ok: true, value: '0.5' });
  });
  it('builds runtime_config.parameters from the whole form', () => {
    const defs = pipelineParams(loadYaml('examples/pipelines/iris-v2.yaml'));
    expect(runParameters(defs, { c: '0.5' })).toEqual({ parameters: { c: 0.5 }, errors: {} });
    expect(runParameters(defs, {})).toEqual({ parameters: { c: 1 }, errors: {} });
    expect(runParameters(defs, { c: '' })).toEqual({ parameters: {}, errors: {} });
    const add = pipelineParams(loadYaml('v2-ir/add_numbers.yaml'));
    expect(runParameters(add, { a: '1', b: 'x' })).toEqual({ parameters: { a: 1 }, errors: { b: expect.stringMatching(/whole number/) } });
  });
});
