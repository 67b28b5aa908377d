// Self-test of the harness with two small JS workers (harness/selftest/):
// routing, D1 migrations + seed, KV, vars/secrets, a queue hop (latency
// measured with max_batch_timeout 0), retries into a dead-letter queue, cron
// firing, the control paths, and a clean stop with no workerd left behind.
//
//   infra/cloudflare/node_modules/.bin/node --test infra/cloudflare/harness/test/*.test.mjs

import assert from "node:assert/strict";
import path from "node:path";
import { after, before, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";

import { HARNESS_DIR, isRunning, json, percentile, startHarness } from "./lib.mjs";

const CONFIG = path.join(HARNESS_DIR, "selftest", "config.json");
const HOPS = 50;

let harness;
let workerd = [];

before(async () => {
  harness = await startHarness(CONFIG, { env: { SELFTEST_TOKEN: "not-a-real-secret" } });
  workerd = harness.workerdPids();
});

after(async () => {
  if (harness) await harness.stop("SIGKILL");
});

const get = (p, init) => fetch(new URL(p, harness.url), init);
const post = (p, body) =>
  get(p, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body ?? {}) });

async function waitFor(what, check, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

test("routes by method and path, first match in configuration order", async () => {
  assert.equal(await (await get("/items/a/name")).text(), "semi;colon 'quoted'"); // producer (listed first)
  const consumer = await json(await get("/items/b"));
  assert.equal(consumer.worker, "consumer");
  assert.equal((await post("/env")).status, 404); // GET-only route
  const missing = await get("/nowhere");
  assert.equal(missing.status, 404);
  assert.equal(missing.headers.get("content-type"), "application/problem+json");
  assert.match((await json(missing)).detail, /no worker serves GET \/nowhere/);
});

test("migrations and seed applied once, through the D1 binding", async () => {
  const applied = await json(await post("/__harness/d1", { sql: "SELECT name FROM d1_migrations ORDER BY id" }));
  assert.deepEqual(
    applied.results.map((r) => r.name),
    ["0001_selftest.sql"],
  );
  const items = await json(await post("/__harness/d1", { sql: "SELECT id, name FROM items ORDER BY id" }));
  assert.deepEqual(items.results, [
    { id: "a", name: "semi;colon 'quoted'" },
    { id: "b", name: "seeded" },
  ]);
  const batch = await json(
    await post("/__harness/d1", {
      batch: [
        { sql: "UPDATE items SET name = ? WHERE id = ?", params: ["renamed", "b"] },
        { sql: "SELECT touched FROM items WHERE id = ?", params: ["b"] },
      ],
    }),
  );
  assert.deepEqual(batch[1].results, [{ touched: 1 }], "the trigger in the migration works");
});

test("vars and secrets reach the workers", async () => {
  const env = await json(await get("/env"));
  assert.deepEqual(env, { worker: "producer", role: "producer", greeting: "hello from vars", tokenLength: 17 });
});

test("KV namespace is shared", async () => {
  assert.equal((await get("/kv/k1", { method: "PUT", body: "v1" })).status, 204);
  assert.equal(await (await get("/kv/k1")).text(), "v1");
});

test(`queue hop latency with max_batch_timeout 0 (${HOPS} messages, one at a time)`, async () => {
  const latencies = [];
  for (let i = 0; i < HOPS; i++) {
    const { id } = await json(await post("/hop"));
    const row = await waitFor(`hop ${id}`, async () => {
      const r = await json(await get(`/hop/${id}`));
      return r.received_at !== null ? r : null;
    });
    assert.equal(row.attempts, 1);
    latencies.push(row.received_at - row.sent_at);
  }
  latencies.sort((a, b) => a - b);
  const line = `queue hop (send → consumer start, workerd clock): p50 ${percentile(latencies, 50)} ms, p90 ${percentile(latencies, 90)} ms, p99 ${percentile(latencies, 99)} ms, max ${latencies.at(-1)} ms`;
  console.log(line);
  assert.ok(percentile(latencies, 50) < 500, line);
});

test("a message that keeps failing is retried max_retries times, then dead-lettered", async () => {
  const { id } = await json(await post("/hop", { fail: true }));
  const row = await waitFor(`dead letter of ${id}`, async () => {
    const r = await json(await get(`/hop/${id}`));
    return r.dead_at !== null ? r : null;
  });
  assert.equal(row.attempts, 3, "max_retries 2 = three deliveries");
});

test("messages can be injected into a queue from outside", async () => {
  const id = "injected-1";
  await post("/__harness/d1", { sql: "INSERT INTO hops (id, sent_at) VALUES (?, 0)", params: [id] });
  const sent = await post("/__harness/queue?queue=selftest-hop", { id });
  assert.equal(sent.status, 202);
  await waitFor("the injected message", async () => (await json(await get(`/hop/${id}`))).attempts === 1);
  assert.equal((await post("/__harness/queue?queue=nope", {})).status, 404);
});

test("crons fire on demand", async () => {
  const fired = await json(await post("/__harness/scheduled?worker=consumer"));
  assert.deepEqual(fired, { worker: "consumer", cron: "*/5 * * * *", outcome: "ok", noRetry: false });
  await post("/__harness/scheduled?worker=consumer&cron=0+3+*+*+*");
  const runs = await json(await post("/__harness/d1", { sql: "SELECT cron FROM cron_runs ORDER BY rowid" }));
  assert.deepEqual(
    runs.results.map((r) => r.cron),
    ["*/5 * * * *", "0 3 * * *"],
  );
  assert.equal((await post("/__harness/scheduled?worker=nope")).status, 404);
});

test("health lists the workers", async () => {
  const health = await json(await get("/__harness/health"));
  assert.deepEqual(
    health.workers.map((w) => [w.name, w.consumers, w.crons]),
    [
      ["producer", [], []],
      ["consumer", ["selftest-hop", "selftest-dlq"], ["*/5 * * * *"]],
    ],
  );
});

test("SIGTERM disposes Miniflare: exit 0, no workerd left", async () => {
  assert.ok(workerd.length > 0, "workerd runs as a child of the harness");
  const { code } = await harness.stop("SIGTERM");
  assert.equal(code, 0, harness.output());
  assert.match(harness.output(), /gasline: stopped/);
  await waitFor("workerd to exit", async () => workerd.every((pid) => !isRunning(pid)), 5_000);
});
