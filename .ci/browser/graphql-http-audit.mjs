// The GraphQL-over-HTTP conformance audit (graphql-http's auditServer) against a running psm-api.
//
//   PSM_KEY=psm_... node .ci/browser/graphql-http-audit.mjs http://127.0.0.1:8080/graphql
//
// Every request of the audit carries the key (psm-api answers 401 without one). Prints each audit
// that is not "ok" with its reason, then the counts, and as its last line the counts as JSON (read by
// the test `web::graphql_over_http_audit_passes_without_warnings_or_errors`). Exits 1 on any warn or
// error, 2 when it cannot run.
import { auditServer } from 'graphql-http';

const url = process.argv[2] ?? 'http://127.0.0.1:8080/graphql';
const key = process.env.PSM_KEY;
if (!key) {
  console.error('set PSM_KEY to an API key (any role)');
  process.exit(2);
}

const fetchFn = (input, init = {}) => {
  const headers = new Headers(init.headers ?? {});
  headers.set('authorization', `Bearer ${key}`);
  return fetch(input, { ...init, headers });
};

const results = await auditServer({ url, fetchFn });
const counts = { ok: 0, notice: 0, warn: 0, error: 0 };
for (const result of results) {
  counts[result.status] += 1;
  if (result.status !== 'ok') {
    let body = '';
    try {
      body = await result.response.text();
    } catch {}
    console.log(`${result.status.toUpperCase()} ${result.id} ${result.name}: ${result.reason}`);
    console.log(`    HTTP ${result.response.status} ${result.response.headers.get('content-type')} ${body.slice(0, 200)}`);
  }
}
console.log(`${results.length} audits: ${counts.ok} ok, ${counts.notice} notice, ${counts.warn} warn, ${counts.error} error`);
console.log(JSON.stringify(counts));
process.exit(counts.warn + counts.error > 0 ? 1 : 0);
