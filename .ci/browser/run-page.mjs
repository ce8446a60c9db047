// Opens one page in Debian's headless Chromium (through playwright-core; no browser is downloaded) and
// prints what a person would see there, as one JSON line. Driven by the browser tests in tests/api/web.rs.
//
//   node .ci/browser/run-page.mjs '{"url": "...", "mode": "fetch" | "graphiql", "screenshot": "/tmp/x.png"}'
//
// Every request to a host other than 127.0.0.1 is blocked: Chromium resolves no other name
// (--host-resolver-rules). Each such request the page makes is reported in "blocked".
// mode "fetch": waits for the page's element #result to get data-done, reports its text.
// mode "graphiql": waits for GraphiQL's editors, reads the query and the Headers tab, runs the query
// with the run button, reports the result pane and the Docs panel.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const spec = JSON.parse(process.argv[2]);
const executablePath = process.env.PSM_CHROMIUM ?? '/usr/bin/chromium';
const profile = mkdtempSync(join(tmpdir(), 'psm-chromium-'));
const report = { blocked: [], consoleErrors: [] };
let context;
try {
  context = await chromium.launchPersistentContext(profile, {
    executablePath,
    headless: true,
    args: [
      '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1',
    ],
  });
  // Requests are watched, not intercepted: with interception on, Playwright answers CORS preflights
  // itself, and a refused origin's request would reach the server.
  context.on('request', (request) => {
    const url = new URL(request.url());
    if (url.protocol !== 'data:' && url.hostname !== '127.0.0.1') report.blocked.push(url.href);
  });
  const page = context.pages()[0] ?? (await context.newPage());
  page.on('console', (message) => {
    if (message.type() === 'error') report.consoleErrors.push(message.text());
  });
  page.on('pageerror', (error) => report.consoleErrors.push(String(error)));
  page.on('response', async (response) => {
    if (response.status() >= 400) {
      const request = response.request();
      report.failedRequests = report.failedRequests ?? [];
      report.failedRequests.push({ url: request.url(), status: response.status(), body: request.postData()?.slice(0, 80), authorization: Boolean((await request.allHeaders()).authorization) });
    }
  });
  await page.goto(spec.url, { waitUntil: 'load', timeout: 30000 });
  report.title = await page.title();
  if (spec.mode === 'fetch') {
    await page.waitForSelector('#result[data-done]', { timeout: 30000 });
    report.result = await page.textContent('#result');
  } else if (spec.mode === 'graphiql') {
    const editorText = (selector) =>
      page.evaluate((selector) => document.querySelector(selector)?.CodeMirror?.getValue() ?? null, selector);
    await page.waitForSelector('.graphiql-query-editor .CodeMirror', { timeout: 30000 });
    report.banner = await page.textContent('#psm-role');
    await page.waitForFunction(
      () => document.querySelector('.graphiql-query-editor .CodeMirror')?.CodeMirror?.getValue().includes('{'),
      null,
      { timeout: 30000 },
    );
    report.query = await editorText('.graphiql-query-editor .CodeMirror');
    report.headers = await editorText('.graphiql-editor-tool .graphiql-editor:not(.hidden) .CodeMirror');
    report.headersTabVisible = await page.isVisible('.graphiql-editor-tool .graphiql-editor:not(.hidden) .CodeMirror');
    await page.click('.graphiql-execute-button');
    await page.waitForFunction(
      () => (document.querySelector('.result-window .CodeMirror')?.CodeMirror?.getValue() ?? '').includes('"data"'),
      null,
      { timeout: 30000 },
    );
    report.result = await editorText('.result-window .CodeMirror');
    // The schema reached the Docs panel: the introspection query carried the key as well.
    await page.click('.graphiql-sidebar button[aria-label*="Documentation Explorer"]');
    await page.waitForSelector('.graphiql-doc-explorer >> text=QueryRoot', { timeout: 30000 });
    report.docs = await page.textContent('.graphiql-doc-explorer');
  }
  if (spec.screenshot) await page.screenshot({ path: spec.screenshot });
  report.ok = true;
} catch (error) {
  report.ok = false;
  report.error = String(error);
} finally {
  await context?.close();
  rmSync(profile, { recursive: true, force: true });
}
console.log(JSON.stringify(report));
