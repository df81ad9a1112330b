import { describe, expect, it } from 'vitest';
import { modelCommands, modelHost, runsPath } from './commands';

describe('home commands', () => {
  it('takes the Host from status.url, else NAME.NS.example.com', () => {
    expect(modelHost('kserve-test', 'sklearn-iris', 'http://sklearn-iris.kserve-test.models.corp')).toBe('sklearn-iris.kserve-test.models.corp');
    expect(modelHost('team-a', 'iris')).toBe('iris.team-a.example.com');
    expect(modelHost('team-a', 'iris', 'not a url')).toBe('iris.team-a.example.com');
  });
  it('builds the exact curl and kubectl commands', () => {
    const cmds = modelCommands('https://127.0.0.1:8080', 'kserve-test', 'sklearn-iris', 'http://sklearn-iris.kserve-test.example.com');
    const by = Object.fromEntries(cmds.map((c) => [c.id, c.command]));
    expect(by.token).toBe('TOKEN=$(skiff --server https://127.0.0.1:8080 login --print-token)');
    expect(by.host).toBe(
      'curl -H "Authorization: Bearer $TOKEN" -H "Host: sklearn-iris.kserve-test.example.com" https://127.0.0.1:8080/v1/models/sklearn-iris:predict -d @input.json',
    );
    expect(by.path).toBe(
      'curl -H "Authorization: Bearer $TOKEN" https://127.0.0.1:8080/serving/kserve-test/sklearn-iris/v1/models/sklearn-iris:predict -d @input.json',
    );
    expect(by.kfserving).toBe('curl -H "Authorization: Bearer $TOKEN" https://127.0.0.1:8080/kfserving/kserve-test/sklearn-iris:predict -d @input.json');
    expect(by.v2).toContain('https://127.0.0.1:8080/serving/kserve-test/sklearn-iris/v2/models/sklearn-iris/infer');
    expect(by.v2).toContain(`-d '{"inputs":[{"name":"input-0","shape":[2,4],"datatype":"FP64","data":[6.8,2.8,4.8,1.4,6,3.4,4.5,1.6]}]}'`);
    expect(by.kubectl).toContain('kubectl -n kserve-test get inferenceservices');
    expect(by.input).toContain('{"instances": [[6.8, 2.8, 4.8, 1.4], [6.0, 3.4, 4.5, 1.6]]}');
  });
  it("asks KFP for the namespace's five newest runs", () => {
    expect(runsPath('team-a')).toBe('/apis/v2beta1/runs?namespace=team-a&page_size=5&sort_by=created_at%20desc');
  });
});
