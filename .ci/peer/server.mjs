/**
 * PostGraphile v5 on psm-api's database: the peer server of `.ci/peer_bench.py`.
 *
 * Versions are pinned in package.json / package-lock.json (postgraphile 5.1.5, grafserv 1.0.2,
 * postgraphile-plugin-connection-filter 4.0.1, @graphile/pg-aggregates 0.2.0-rc.2, pg 8.23.1).
 *
 * What it serves: the amber preset with the connection-filter and pg-aggregates presets, over the
 * tables of schema `public` (introspected once at start: no watch mode), at POST /graphql on node's own
 * http server (grafserv's node adaptor). No GraphiQL, no GraphQL over GET, no `explain` in responses,
 * errors masked by grafserv's default mask (no stack traces), NODE_ENV and GRAPHILE_ENV `production`
 * unless already set. No pgSettings and no role switching: every request runs as the connection's user.
 *
 * Connection pool: 10 connections, the same as psm-api's default (`--db-max-connections`,
 * PSM_DB_MAX_CONNECTIONS, default 10 in src/config.rs); PSM_PEER_POOL_MAX overrides it.
 *
 * Environment: DATABASE_URL (required, e.g. postgres://postgres@127.0.0.1:5432/psm_bench),
 * PSM_PEER_PORT (default 18097), PSM_PEER_HOST (127.0.0.1), PSM_PEER_POOL_MAX (10).
 *
 * Readiness: once the schema is built and the port is listening, prints one line to standard output,
 * `ready http://HOST:PORT/graphql`; `{ __typename }` is a cheap query to poll with as well.
 *
 * Run: node .ci/peer/server.mjs   (after `npm ci --prefix .ci/peer`)
 */

import { createServer } from "node:http";

// PostGraphile 5 calls Promise.withResolvers (Node 22+); Node 20 lacks it. Defined before postgraphile
// is loaded, which is why everything from postgraphile is imported dynamically below.
if (typeof Promise.withResolvers !== "function") {
  Promise.withResolvers = function withResolvers() {
    let resolve;
    let reject;
    const promise = new this((res, rej) => {
      resolve = res;
      reject = rej;
    });
    return { promise, resolve, reject };
  };
}
process.env.NODE_ENV ??= "production";
process.env.GRAPHILE_ENV ??= "production";

const connectionString = process.env.DATABASE_URL;
if (!connectionString) {
  console.error("DATABASE_URL is required");
  process.exit(2);
}
const port = Number(process.env.PSM_PEER_PORT ?? "18097");
const host = process.env.PSM_PEER_HOST ?? "127.0.0.1";
const poolMax = Number(process.env.PSM_PEER_POOL_MAX ?? "10");

const { postgraphile } = await import("postgraphile");
const { PostGraphileAmberPreset } = await import("postgraphile/presets/amber");
const { makePgService } = await import("postgraphile/adaptors/pg");
const { grafserv } = await import("postgraphile/grafserv/node");
// Both plugins are CommonJS; take their exports from the default import.
const connectionFilter = (await import("postgraphile-plugin-connection-filter")).default;
const aggregates = (await import("@graphile/pg-aggregates")).default;

const preset = {
  extends: [
    PostGraphileAmberPreset,
    connectionFilter.PostGraphileConnectionFilterPreset,
    aggregates.PgAggregatesPreset,
  ],
  pgServices: [
    makePgService({
      connectionString,
      schemas: ["public"],
      poolConfig: { max: poolMax },
    }),
  ],
  grafserv: {
    port,
    host,
    graphqlPath: "/graphql",
    graphiql: false,
    graphiqlOnGraphQLGET: false,
    graphqlOverGET: false,
    watch: false,
    websockets: false,
  },
  grafast: {
    explain: false,
  },
};

const pgl = postgraphile(preset);
const serv = pgl.createServ(grafserv);
const server = createServer();
server.on("error", (error) => {
  console.error(error);
  process.exit(1);
});
await serv.addTo(server);
// Build the schema before accepting requests, so the first request does not pay for introspection.
await pgl.getSchema();
server.listen(port, host, () => {
  console.log(`ready http://${host}:${port}/graphql`);
});

async function stop() {
  server.close();
  await pgl.release();
  process.exit(0);
}
process.once("SIGTERM", stop);
process.once("SIGINT", stop);
