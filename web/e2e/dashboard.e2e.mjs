// The dashboard's end-to-end suite: playwright-core driving Debian's chromium against a real
// skiff (started by tests/integration/test_dashboard_e2e.py, which passes everything in
// SKIFF_E2E as JSON). Each step asserts what a person would see; a screenshot of each page goes
// to cfg.screenshots. Exits non-zero with the failing step's name.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { chromium } from 'playwright-core';

const cfg = JSON.parse(process.env.SKIFF_E2E ?? '{}');
const base = cfg.url; // https://127.0.0.1:PORT
const T = { step: 30_000, slow: 180_000 };
fs.mkdirSync(cfg.screenshots, { recursive: true });

const browser = await chromium.launch({
  executablePath: cfg.chromium ?? '/usr/bin/chromium',
  args: [
    '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
  ],
  // playwright-core gives chromium a fresh --user-data-dir of its own (a temporary directory).
  timeout: 60_000,
});

let failures = 0;
let current = '';
async function step(name, fn) {
  current = name;
  const t0 = Date.now();
  try {
    await fn();
    console.log(`ok   ${name} (${Date.now() - t0} ms)`);
  } catch (e) {
    failures++;
    console.log(`FAIL ${name}: ${e?.stack ?? e}`);
    throw e;
  }
}

// The whole page for review; with SKIFF_README_SHOTS=DIR also the first screen (1280x800), as
// the README shows it.
async function shot(page, name) {
  await page.screenshot({ path: path.join(cfg.screenshots, `${name}.png`), fullPage: true });
  const readme = process.env.SKIFF_README_SHOTS;
  if (readme) await page.screenshot({ path: path.join(readme, `${name}.png`) });
}

// A fresh browser context (own cookies), logged in through skiff's login page.
async function login(user) {
  const context = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1280, height: 800 } });
  context.setDefaultTimeout(T.step);
  const page = await context.newPage();
  page.on('pageerror', (e) => console.log(`[${user.email}] page error: ${e.message}`));
  await page.goto(base + '/');
  await page.getByLabel(/email|user|login/i).first().fill(user.email);
  await page.getByLabel(/password/i).fill(user.password);
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.waitForURL((u) => u.pathname === '/' && u.origin === base);
  await page.locator('.user-name', { hasText: user.email }).waitFor();
  return { context, page };
}

async function pickNamespace(page, ns) {
  await page.getByLabel('Namespace').selectOption(ns);
  await assertSelected(page, ns);
}

async function assertSelected(page, ns) {
  const v = await page.getByLabel('Namespace').inputValue();
  assert.equal(v, ns, `namespace selector shows ${v}, want ${ns}`);
}

async function nav(page, label) {
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: label, exact: true }).click();
}

async function main() {
  const alice = cfg.users.alice;
  const bob = cfg.users.bob;
  const admin = cfg.users.admin;

  let a;
  await step('alice logs in and sees her name, groups and namespaces', async () => {
    a = await login(alice);
    await a.page.locator('.groups', { hasText: 'datascience' }).waitFor();
    const options = await a.page.getByLabel('Namespace').locator('option').allTextContents();
    assert.deepEqual(options.map((o) => o.split(' ')[0]).sort(), ['team-a', 'team-b']);
    await shot(a.page, 'home');
    // The budget: the home page's first load fetches under 200 KB of compressed JS.
    const js = await a.page.evaluate(() =>
      performance.getEntriesByType('resource').filter((e) => new URL(e.name).pathname.endsWith('.js')).map((e) => e.encodedBodySize),
    );
    const total = js.reduce((n, x) => n + x, 0);
    assert.ok(js.length > 0 && total > 0, `no JS measured: ${js}`);
    assert.ok(total < 200 * 1024, `home page loads ${total} bytes of compressed JS`);
    console.log(`     home page JS: ${js.length} file(s), ${total} bytes compressed`);
  });

  await step('the namespace choice is remembered for the user', async () => {
    await pickNamespace(a.page, 'team-b');
    await a.page.reload();
    await a.page.locator('.user-name', { hasText: alice.email }).waitFor();
    await assertSelected(a.page, 'team-b');
    await pickNamespace(a.page, 'team-a');
  });

  await step('alice adds bob to team-a as a viewer', async () => {
    await nav(a.page, 'Contributors');
    await a.page.getByRole('heading', { name: 'Contributors of team-a' }).waitFor();
    await a.page.getByLabel('E-mail or user name').fill(bob.email);
    await a.page.getByLabel('Role').selectOption('view');
    await a.page.getByRole('button', { name: 'Add contributor' }).click();
    const row = a.page.getByRole('row', { name: bob.email });
    await row.getByRole('cell', { name: 'Viewer' }).waitFor();
    await shot(a.page, 'contributors');
  });

  await step('alice deploys the iris model from the form and sees it become Ready', async () => {
    await nav(a.page, 'Models');
    await a.page.getByRole('link', { name: 'Deploy model' }).click();
    await a.page.getByRole('heading', { name: 'Deploy a model' }).waitFor();
    await a.page.getByLabel('Name', { exact: true }).fill('iris');
    await a.page.getByLabel('Model format').selectOption('sklearn');
    await a.page.getByLabel('Storage URI').fill(cfg.modelUri);
    await a.page.getByRole('button', { name: 'Deploy', exact: true }).click();
    await a.page.waitForURL((u) => u.pathname === '/models/team-a/iris');
    await a.page.getByTestId('model-ready').filter({ hasText: 'Ready' }).waitFor({ timeout: T.slow });
  });

  await step('the try-it panel sends a V1 prediction and shows [1, 1] with its latency', async () => {
    await a.page.getByRole('heading', { name: 'Try it' }).waitFor();
    await a.page.getByRole('button', { name: 'Send' }).click();
    await a.page.getByTestId('try-status').filter({ hasText: 'HTTP 200' }).waitFor();
    assert.equal((await a.page.getByTestId('try-predictions').textContent()).trim(), '[1, 1]');
    assert.match(await a.page.getByTestId('try-latency').textContent(), /\d+ ms/);
    // The Requests panel (skiff's own metrics, polled) counts that prediction.
    await a.page.getByTestId('model-requests').filter({ hasText: /^[1-9]/ }).waitFor();
    await shot(a.page, 'model-detail');
    await nav(a.page, 'Models');
    await a.page.getByTestId('model-row-iris').getByText('Ready').waitFor();
    await shot(a.page, 'models');
  });

  let b;
  await step('bob, a viewer, sees no edit buttons and a readable error when forcing one', async () => {
    b = await login(bob);
    await assertSelected(b.page, 'team-a');
    await nav(b.page, 'Contributors');
    await b.page.getByRole('heading', { name: 'Contributors of team-a' }).waitFor();
    await b.page.getByText('Your permissions in team-a').waitFor();
    assert.equal(await b.page.getByRole('button', { name: 'Add contributor' }).count(), 0);
    assert.equal(await b.page.getByRole('button', { name: /^Remove/ }).count(), 0);
    // Forcing it: the same call the page would make, from bob's session.
    const status = await b.page.evaluate(async () => {
      const xsrf = document.cookie.split('; ').find((c) => c.startsWith('XSRF-TOKEN='))?.split('=')[1] ?? '';
      const r = await fetch('/kfam/v1/bindings', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', 'X-XSRF-TOKEN': decodeURIComponent(xsrf) },
        body: JSON.stringify({ user: { kind: 'User', name: 'eve@example.com' }, referredNamespace: 'team-a', RoleRef: { kind: 'ClusterRole', name: 'edit' } }),
      });
      return r.status;
    });
    assert.equal(status, 403);
    assert.equal(await b.page.getByRole('link', { name: 'Routing' }).count(), 0, 'Routing is for cluster admins');
  });

  await step('bob sees the model but no deploy, canary or delete buttons; forcing a deploy is refused in words', async () => {
    await nav(b.page, 'Models');
    await b.page.getByTestId('model-row-iris').waitFor();
    assert.equal(await b.page.getByRole('link', { name: 'Deploy model' }).count(), 0);
    await b.page.getByRole('link', { name: 'iris', exact: true }).click();
    await b.page.getByTestId('model-ready').filter({ hasText: 'Ready' }).waitFor();
    assert.equal(await b.page.getByRole('button', { name: 'Edit canary' }).count(), 0);
    assert.equal(await b.page.getByRole('button', { name: 'Delete', exact: true }).count(), 0);
    await b.page.goto(base + '/models/new');
    await b.page.getByRole('heading', { name: 'Deploy a model' }).waitFor();
    await b.page.getByLabel('Name', { exact: true }).fill('forced');
    await b.page.getByLabel('Model format').selectOption('sklearn');
    await b.page.getByLabel('Storage URI').fill(cfg.modelUri);
    await b.page.getByRole('button', { name: 'Deploy', exact: true }).click();
    const alert = b.page.getByRole('alert').filter({ hasText: 'Could not deploy model' });
    await alert.waitFor();
    assert.match(await alert.textContent(), /forbidden/);
    assert.match(await alert.textContent(), /ask one of its owners/);
    await shot(b.page, 'viewer-refused');
    await b.context.close();
  });

  await step('alice sets a canary percent and deletes the model after confirming', async () => {
    await a.page.getByRole('link', { name: 'iris', exact: true }).click();
    await a.page.getByRole('button', { name: 'Edit canary' }).click();
    await a.page.getByLabel('Canary traffic percent').fill('30');
    await a.page.getByRole('button', { name: 'Save canary' }).click();
    await a.page.getByTestId('model-traffic').filter({ hasText: 'canary 30%' }).waitFor();
    await a.page.getByRole('button', { name: 'Delete', exact: true }).click();
    await a.page.getByRole('dialog').getByRole('button', { name: 'Delete model' }).click();
    await a.page.waitForURL((u) => u.pathname === '/models');
    await a.page.getByText('No models in team-a yet').waitFor();
  });

  await step('alice uploads the iris pipeline from the file picker', async () => {
    await nav(a.page, 'Pipelines');
    await a.page.getByRole('button', { name: 'Upload pipeline' }).click();
    await a.page.getByLabel('Pipeline file').setInputFiles(cfg.pipelineFile);
    await a.page.getByRole('button', { name: 'Upload', exact: true }).click();
    await a.page.getByRole('heading', { name: /^Pipeline / }).waitFor();
    await a.page.getByTestId('versions-table').waitFor();
    await shot(a.page, 'pipeline');
  });

  await step('alice starts a run and watches its graph reach SUCCEEDED without reloading', async () => {
    await a.page.getByRole('link', { name: 'Create run', exact: true }).click();
    await a.page.getByRole('heading', { name: 'Create a run' }).waitFor();
    await a.page.getByLabel('Run name').fill('iris-e2e');
    await a.page.getByRole('button', { name: 'Start run' }).click();
    await a.page.getByRole('heading', { name: 'Run iris-e2e' }).waitFor();
    await a.page.evaluate(() => ((window).__sameDocument = true));
    await a.page.locator('[data-testid="run-state"][data-state="SUCCEEDED"]').waitFor({ timeout: T.slow });
    assert.equal(await a.page.evaluate(() => (window).__sameDocument), true, 'the page reloaded');
    for (const task of ['train', 'evaluate']) {
      await a.page.locator(`[data-testid="task-${task}"][data-state="SUCCEEDED"]`).waitFor();
    }
    await shot(a.page, 'run');
  });

  await step("alice opens a task and reads its log", async () => {
    // By keyboard: the graph's boxes are buttons.
    await a.page.getByRole('button', { name: /^Task train/ }).focus();
    await a.page.keyboard.press('Enter');
    await a.page.getByRole('heading', { name: 'Task train' }).waitFor();
    await a.page.getByTestId('task-log').filter({ hasText: 'Loading KFP component' }).waitFor();
    await shot(a.page, 'run-task-log');
  });

  await step('a narrow window shows the same pages without sideways scrolling; Tab reaches "Skip to content" first', async () => {
    const narrow = await a.context.newPage();
    await narrow.setViewportSize({ width: 400, height: 800 });
    for (const where of ['/', '/models', '/runs', '/contributors']) {
      await narrow.goto(base + where);
      await narrow.getByRole('heading', { level: 1 }).first().waitFor();
      const [scroll, inner] = await narrow.evaluate(() => [document.documentElement.scrollWidth, window.innerWidth]);
      assert.ok(scroll <= inner, `${where}: page is ${scroll}px wide in a ${inner}px window`);
    }
    await narrow.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Runs', exact: true }).waitFor();
    await shot(narrow, 'narrow-contributors');
    await narrow.keyboard.press('Tab');
    assert.equal(await narrow.evaluate(() => document.activeElement?.textContent?.trim()), 'Skip to content');
    await narrow.close();
  });

  await step('alice signs out and the dashboard asks her to log in again', async () => {
    await a.page.getByRole('link', { name: 'Sign out' }).click();
    await a.page.waitForLoadState();
    await a.page.goto(base + '/models');
    await a.page.getByLabel(/password/i).waitFor();
    assert.notEqual(new URL(a.page.url()).pathname, '/models');
    await a.context.close();
  });

  await step('an admin explains a route from the Routing page', async () => {
    const ad = await login(admin);
    await nav(ad.page, 'Routing');
    await ad.page.getByRole('heading', { name: 'Routing table, in match order' }).waitFor();
    await ad.page.getByRole('cell', { name: 'dashboard', exact: true }).waitFor();
    await ad.page.getByLabel('URL').fill(base + '/v1/models/iris:predict');
    await ad.page.getByLabel('Method').selectOption('POST');
    await ad.page.getByRole('button', { name: 'Explain' }).click();
    const out = ad.page.getByTestId('explain-output');
    await out.waitFor();
    assert.match(await out.textContent(), /serving/);
    await shot(ad.page, 'routing');
    await ad.context.close();
  });
}

try {
  await main();
} catch {
  // reported by step()
} finally {
  await browser.close();
}
if (failures) {
  console.log(`dashboard e2e: failed at "${current}"`);
  process.exit(1);
}
console.log('dashboard e2e: all steps passed');
