// The harness's front worker: the only worker Miniflare routes requests to.
//
// It forwards each request to the worker that serves its path (service
// bindings, in-process, no network), and serves the harness-only control
// paths under /__harness/ (cron firing, queue injection, SQL, health, and
// the readiness switch the harness throws once migrated and seeded).
//
// Why a router worker and not Miniflare `routes`: Miniflare routes match a
// path prefix or an exact path *including the query string*, have no method
// and no inner wildcard, so `POST /v1/orders` (intake) and
// `GET /v1/orders/{id}/waybill` (status) could not be told apart. The cost is
// one in-process service-binding hop, which the hello-world baseline pays too.
//
// Bindings (set by run.mjs):
//   HARNESS_ROUTES   JSON [{worker, service, method|null, segments[], prefix}]
//   HARNESS_WORKERS  JSON [{name, service, crons[], consumers[], producers{}, routes[]}]
//   HARNESS_QUEUES   JSON {queueName: producerBindingName}
//   HARNESS_FALLBACK service binding name of the fallback worker, or ""
//   HARNESS_DB       the shared D1 database (when configured, without cells)
//   HARNESS_CELL_ROUTES, HARNESS_CELL_FALLBACK  the same per cell (cells only)
//   HARNESS_DB_<cell> each cell's D1 database (cells only)
//   W_<n>            one service binding per worker
//   Q_<n>            one queue producer per queue

const CONTROL = "/__harness/";
const CELLS = "/__cells/";

// Closed until the harness has applied the migrations and seeds
// (`POST /__harness/ready`), as a deployment takes traffic only once it is
// migrated: a client that waits for `/healthz` and then places an order
// must not meet missing tables or tokens. Until then every path but the
// control paths answers 503 with `Retry-After`.
let ready = false;

export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    if (url.pathname.startsWith(CONTROL)) {
      try {
        return await control(request, url, env);
      } catch (error) {
        return problem(500, "Harness control failed", String(error?.stack ?? error));
      }
    }
    if (!ready) {
      const response = problem(503, "Starting", "the deployment is applying its migrations and seeds; retry shortly");
      response.headers.set("retry-after", "1");
      return response;
    }
    if (url.pathname.startsWith(CELLS)) return cell(request, url, env);
    const service = route(env.HARNESS_ROUTES, request.method, url.pathname) ?? (env.HARNESS_FALLBACK || null);
    if (service === null) {
      return problem(404, "Not Found", `no worker serves ${request.method} ${url.pathname}`);
    }
    return env[service].fetch(request);
  },
};

/**
 * `/__cells/<cell>/<path>`: `<path>` served by the workers of that cell, as
 * the harness's own address serves a deployment without cells. This is a
 * cell's base URL (`http://127.0.0.1:PORT/__cells/<cell>`) for the router
 * in front of the cells.
 */
async function cell(request, url, env) {
  const [name, ...rest] = url.pathname.slice(CELLS.length).split("/");
  const routes = env.HARNESS_CELL_ROUTES?.[name];
  if (!routes) return problem(404, "No such cell", `cell ${name}; known: ${Object.keys(env.HARNESS_CELL_ROUTES ?? {}).join(", ")}`);
  const path = `/${rest.join("/")}`;
  const service = route(routes, request.method, path) ?? (env.HARNESS_CELL_FALLBACK[name] || null);
  if (service === null) return problem(404, "Not Found", `no worker of cell ${name} serves ${request.method} ${path}`);
  const inner = new URL(url);
  inner.pathname = path;
  return env[service].fetch(new Request(inner, request));
}

/** First matching route, in configuration order; null when none matches. */
function route(routes, method, pathname) {
  const path = splitPath(pathname);
  for (const r of routes) {
    if (r.method !== null && r.method !== method && !(r.method === "GET" && method === "HEAD")) continue;
    if (matches(r, path)) return r.service;
  }
  return null;
}

function matches(r, path) {
  const { segments, prefix } = r;
  if (prefix ? path.length <= segments.length : path.length !== segments.length) return false;
  for (let i = 0; i < segments.length; i++) {
    if (segments[i] !== "*" && segments[i] !== path[i]) return false;
  }
  return true;
}

/** "/v1/orders/" → ["v1", "orders", ""]; "/" → [""] */
function splitPath(pathname) {
  return pathname.slice(1).split("/");
}

async function control(request, url, env) {
  const what = url.pathname.slice(CONTROL.length);
  const workers = env.HARNESS_WORKERS;
  if (what === "health" && request.method === "GET") {
    return Response.json({ ok: true, workers });
  }
  if (request.method !== "POST") {
    return problem(405, "Method Not Allowed", "harness control paths other than health take POST");
  }
  if (what === "ready") {
    ready = true;
    return Response.json({ ready });
  }
  if (what === "scheduled") {
    const name = url.searchParams.get("worker");
    const worker = workers.find((w) => w.name === name);
    if (!worker) return problem(404, "No such worker", `worker=${name}; known: ${workers.map((w) => w.name).join(", ")}`);
    const cron = url.searchParams.get("cron") ?? worker.crons[0] ?? "";
    const time = url.searchParams.get("time");
    const options = { cron };
    if (time !== null) options.scheduledTime = new Date(Number(time));
    const result = await env[worker.service].scheduled(options);
    return Response.json({ worker: name, cron, ...result }, { status: result.outcome === "ok" ? 200 : 500 });
  }
  if (what === "queue") {
    const queue = url.searchParams.get("queue");
    const binding = env.HARNESS_QUEUES[queue];
    if (!binding) return problem(404, "No such queue", `queue=${queue}; known: ${Object.keys(env.HARNESS_QUEUES).join(", ")}`);
    const body = await request.json();
    const delay = url.searchParams.get("delay");
    const options = { contentType: "json" };
    if (delay !== null) options.delaySeconds = Number(delay);
    await env[binding].send(body, options);
    return Response.json({ queue, sent: 1 }, { status: 202 });
  }
  if (what === "d1") {
    // With cells, ?cell=<name> picks the cell's database.
    const cellName = url.searchParams.get("cell");
    const db = cellName === null ? env.HARNESS_DB : env[`HARNESS_DB_${cellName}`];
    if (!db) return problem(404, "No D1 database", "no d1 section in the harness config, or no such cell (?cell=)");
    const body = await request.json();
    const statements = (body.batch ?? [body]).map(({ sql, params = [] }) => db.prepare(sql).bind(...params));
    const results = await db.batch(statements);
    return Response.json(body.batch ? results : results[0]);
  }
  return problem(404, "Unknown harness path", `${request.method} ${url.pathname}`);
}

function problem(status, title, detail) {
  return new Response(JSON.stringify({ type: "about:blank", title, status, detail }), {
    status,
    headers: { "content-type": "application/problem+json" },
  });
}
