#!/usr/bin/env node
// Gasline local Workers harness: ONE Miniflare (workerd) instance hosting a
// list of workers, with a shared D1 database (migrations applied), a shared KV
// namespace, queues between the workers, crons fired on their schedule (and
// on demand), and a router worker in front that sends each request to the
// worker serving its path.
//
//   node harness/run.mjs --config FILE [--port N] [--persist DIR] [--seed FILE]...
//                        [--crons scheduled|on-demand] [--log-requests] [--verbose]
//
// Needs Node >= 22.12 (run it with infra/cloudflare/node_modules/.bin/node).
// Prints `gasline: ready on http://127.0.0.1:PORT` once everything is up, and
// stays up until SIGINT/SIGTERM (or stdin closing with --exit-on-stdin-close),
// then disposes Miniflare, which stops workerd.
//
// The configuration format, the control paths under /__harness/ and the
// routing rules are described in docs/DEVELOPING.md ("Workers toolchain").

import { readFile, readdir, stat } from "node:fs/promises";
import net from "node:net";
import path from "node:path";
import process from "node:process";
import { fileURLToPath, pathToFileURL } from "node:url";

import { Log, LogLevel, Miniflare, convertV4MiniflareOptions } from "miniflare";

import { nextFire, parseCron } from "./cron.mjs";
import { splitSql } from "./sql.mjs";

const HARNESS_DIR = path.dirname(fileURLToPath(import.meta.url));
const CLOUDFLARE_DIR = path.dirname(HARNESS_DIR);
const REPO_ROOT = path.resolve(CLOUDFLARE_DIR, "..", "..");
const HOST = "127.0.0.1";
const DEFAULT_PORT = 8787;
const DEFAULT_COMPATIBILITY_DATE = "2026-10-01";
const ROUTER_NAME = "__harness_router";
/** Wrangler's table: a database migrated here is also right for `wrangler d1 migrations`. */
const MIGRATIONS_TABLE = "d1_migrations";
const SEEDS_TABLE = "_harness_seeds";

// The parent may be gone when we stop (its reader of our output with it):
// a write to a closed pipe must not crash the shutdown that disposes workerd.
for (const stream of [process.stdout, process.stderr]) {
  stream.on("error", (error) => {
    if (error.code !== "EPIPE") throw error;
  });
}

const USAGE = `Usage: node harness/run.mjs --config FILE [options]

Options:
  --config FILE        harness configuration (.json, or .mjs exporting it as default)
  --port N             port on 127.0.0.1 (default: $GASLINE_PORT, else ${DEFAULT_PORT}; 0 picks a free one)
  --persist DIR        keep D1/KV/queue state in DIR across runs (default: config "persist", else in memory)
  --seed FILE          SQL run once on the D1 database after the migrations (repeatable)
  --crons MODE         scheduled (default): each worker's crons fire on their schedule, as in
                       production; on-demand: only through POST /__harness/scheduled
  --log-requests       log every request (costs a little per request; off for benchmarks)
  --verbose            Miniflare's debug logging
  --exit-on-stdin-close  stop when standard input closes (for parents that may die without signalling)
`;

function fail(message) {
  console.error(`gasline harness: error: ${message}`);
  process.exit(2);
}

function parseArgs(argv) {
  const args = { seeds: [], crons: "scheduled", logRequests: false, verbose: false, exitOnStdinClose: false };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const value = () => {
      if (i + 1 >= argv.length) fail(`${arg} needs a value`);
      return argv[++i];
    };
    switch (arg) {
      case "--config":
        args.config = value();
        break;
      case "--port":
        args.port = value();
        break;
      case "--persist":
        args.persist = value();
        break;
      case "--seed":
        args.seeds.push(path.resolve(value()));
        break;
      case "--crons":
        args.crons = value();
        if (!["scheduled", "on-demand"].includes(args.crons)) fail(`--crons takes scheduled or on-demand, not ${args.crons}`);
        break;
      case "--log-requests":
        args.logRequests = true;
        break;
      case "--verbose":
        args.verbose = true;
        break;
      case "--exit-on-stdin-close":
        args.exitOnStdinClose = true;
        break;
      case "-h":
      case "--help":
        process.stdout.write(USAGE);
        process.exit(0);
        break;
      default:
        fail(`unknown argument ${arg}\n\n${USAGE}`);
    }
  }
  if (!args.config) fail(`--config is required\n\n${USAGE}`);
  return args;
}

/** A port nobody listens on now (the OS picks it; closed again at once). */
function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once("error", reject);
    server.listen(0, HOST, () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

function parsePort(text) {
  const port = Number(text);
  if (!Number.isInteger(port) || port < 0 || port > 65535) fail(`not a port: ${text}`);
  return port;
}

async function loadConfig(file) {
  const absolute = path.resolve(file);
  const config = absolute.endsWith(".json")
    ? JSON.parse(await readFile(absolute, "utf8"))
    : (await import(pathToFileURL(absolute).href)).default;
  if (!config || !Array.isArray(config.workers) || config.workers.length === 0) {
    fail(`${file}: needs a non-empty "workers" list`);
  }
  return { config, dir: path.dirname(absolute) };
}

/** A config value: a string, or {file: PATH} (relative to the config), or {env: NAME}. */
/** The harness's own base URL, once the port is known: `{{harness}}` in a value. */
let harnessBase = null;

async function resolveValue(value, dir, what) {
  if (typeof value === "string" && value.includes("{{harness}}")) {
    if (harnessBase === null) fail(`${what}: {{harness}} used before the port is known`);
    return value.replaceAll("{{harness}}", harnessBase);
  }
  if (value !== null && typeof value === "object" && !Array.isArray(value)) {
    if (typeof value.file === "string") return (await readFile(path.resolve(dir, value.file), "utf8")).trim();
    if (typeof value.env === "string") {
      const found = process.env[value.env];
      if (found === undefined) fail(`${what}: environment variable ${value.env} is not set`);
      return found;
    }
  }
  return value;
}

async function resolveBindings(values, dir, what) {
  const out = {};
  for (const [name, value] of Object.entries(values ?? {})) {
    out[name] = await resolveValue(value, dir, `${what}.${name}`);
  }
  return out;
}

/**
 * The modules of a built worker: every .js/.mjs (ESModule) and .wasm
 * (CompiledWasm) directly in the build folder, entry first. (worker-build
 * 0.8 writes index.js + index_bg.wasm there; its worker/shim.mjs is a
 * backwards-compatibility alias nobody imports.)
 */
async function workerModules(buildDir, main, name) {
  const entries = await readdir(buildDir).catch(() => {
    fail(`worker ${name}: build folder ${buildDir} is missing (build the worker first)`);
  });
  const files = entries.filter((f) => /\.(m?js|wasm)$/.test(f)).sort();
  if (!files.includes(main)) fail(`worker ${name}: ${path.join(buildDir, main)} is missing (build the worker first)`);
  const modules = [main, ...files.filter((f) => f !== main)].map((f) => ({
    type: f.endsWith(".wasm") ? "CompiledWasm" : "ESModule",
    path: path.join(buildDir, f),
  }));
  return modules;
}

/**
 * "POST /v1/orders/*" → {method: "POST", segments: ["v1", "orders"], prefix: true}.
 * A path ending in "/*" is a prefix (one or more further segments); any other
 * "*" stands for exactly one segment; "*" alone matches every path.
 */
function compileRoute(text, worker, service) {
  const match = /^(?:([A-Za-z]+)\s+)?(\/\S*|\*)$/.exec(text.trim());
  if (!match) fail(`worker ${worker}: route "${text}" must be "[METHOD ]/path" or "*"`);
  const method = match[1] ? match[1].toUpperCase() : null;
  let pattern = match[2];
  if (pattern === "*") return { worker, service, route: text, method, segments: [], prefix: true };
  const prefix = pattern.endsWith("/*");
  if (prefix) pattern = pattern.slice(0, -2);
  const segments = pattern === "" ? [] : pattern.slice(1).split("/");
  if (segments.some((s) => s.includes("*") && s !== "*")) {
    fail(`worker ${worker}: route "${text}": "*" stands for a whole path segment (a prefix ends with "/*")`);
  }
  return { worker, service, route: text, method, segments, prefix };
}

// --- SQL -------------------------------------------------------------------

async function sqlFiles(dir) {
  const names = (await readdir(dir)).filter((f) => f.endsWith(".sql")).sort();
  return names.map((name) => ({ name, file: path.join(dir, name) }));
}

/** Applies each not-yet-applied file atomically (one D1 batch with its bookkeeping row). */
async function applySqlFiles(db, table, files, label) {
  await db
    .prepare(
      `CREATE TABLE IF NOT EXISTS ${table} (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT UNIQUE, applied_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP)`,
    )
    .run();
  const appliedNames = async () =>
    new Set((await db.prepare(`SELECT name FROM ${table}`).all()).results.map((r) => r.name));
  const done = await appliedNames();
  let applied = 0;
  for (const { name, file } of files) {
    if (done.has(name)) continue;
    const statements = splitSql(await readFile(file, "utf8")).map((sql) => db.prepare(sql));
    statements.push(db.prepare(`INSERT INTO ${table} (name) VALUES (?)`).bind(name));
    // A large file (the benchmarks' seeds: 13,000 statements) sometimes
    // loses its connection to workerd ("fetch failed") while workerd is
    // still busy starting the workers. The batch is atomic and records its
    // own name, so look whether it landed and send it again if not.
    for (let attempt = 1; ; attempt++) {
      try {
        await db.batch(statements);
        break;
      } catch (error) {
        const lost = error.message === "fetch failed" && attempt < 3;
        if (lost && (await appliedNames()).has(name)) break;
        if (!lost) throw new Error(`${label} ${file}: ${error.message}`, { cause: error });
        console.log(`gasline: ${label} ${file}: ${error.message}; sending it again`);
      }
    }
    applied++;
  }
  console.log(`gasline: ${label}s: ${applied} applied, ${files.length - applied} already there`);
}

// --- Miniflare options -------------------------------------------------------

/**
 * A worker's options from its wrangler configuration (`"wrangler": FILE`):
 * bindings, queues, crons, vars and `main` exactly as `wrangler dev` would
 * read them (wrangler's own reader). Loaded only when a worker uses it.
 */
async function wranglerOptions(file, name) {
  process.env.WRANGLER_SEND_METRICS ??= "false";
  process.env.WRANGLER_SEND_ERROR_REPORTS ??= "false";
  const wrangler = await import("wrangler");
  try {
    const { workerOptions, main } = wrangler.unstable_getMiniflareWorkerOptions(file);
    // The deployed name (top-level `name`), which wrangler's reader leaves out.
    const deployed = /^name\s*=\s*"([^"]+)"/m.exec(await readFile(file, "utf8"))?.[1];
    return { options: workerOptions, main, deployed };
  } catch (error) {
    fail(`worker ${name}: cannot read ${file}: ${error?.message ?? error}`);
  }
}

async function buildOptions(config, dir, args) {
  const resolve = (p) => path.resolve(dir, p);
  const compatibilityDate = config.compatibilityDate ?? DEFAULT_COMPATIBILITY_DATE;
  const compatibilityFlags = config.compatibilityFlags ?? [];
  const d1 = config.d1 ? { binding: "DB", database: "gasline", ...config.d1 } : null;
  const kv = config.kv ? { binding: "KV", namespace: "gasline", ...config.kv } : null;
  const queues = config.queues ?? {};
  // Applied over every consumer's settings, from wrangler or not: tests want
  // hops in milliseconds, not the production max_batch_timeout.
  const queueOverrides = config.queueOverrides ?? { maxBatchTimeout: 0 };
  const sharedVars = await resolveBindings(config.vars, dir, "vars");
  const sharedSecrets = await resolveBindings(config.secrets, dir, "secrets");

  const names = new Set();
  const routes = [];
  const summaries = [];
  const workers = [];
  const known = new Set(Object.keys(queues));
  let fallback = "";
  // Cells (docs/SCALING.md): every worker of "workers" once per cell, named
  // <worker>-<cell>, with the cell's own D1 database, KV namespace and
  // queues (<cell>-<queue>) and the cell's vars; their routes are served
  // under /__cells/<cell>/. The "front" workers (the router) are not
  // repeated: theirs are the routes of the harness's own address.
  const cells = config.cells ?? null;
  const cellNames = new Set();
  for (const cell of cells ?? []) {
    if (typeof cell.name !== "string" || !/^[a-z0-9]{1,12}$/.test(cell.name)) fail(`cell ${cell.name}: "name" must be 1-12 of a-z0-9`);
    if (cellNames.has(cell.name)) fail(`cell ${cell.name}: duplicate name`);
    cellNames.add(cell.name);
  }
  // A worker's name in its wrangler file → its name here (in its cell), so
  // that a Durable Object bound from another script ("script_name") is
  // found under the harness's names.
  const deployedNames = new Map();
  const cellRoutes = Object.fromEntries((cells ?? []).map((c) => [c.name, []]));
  const cellFallback = {};
  const instances = cells
    ? [
        ...(config.front ?? []).map((w) => ({ w, cell: null, front: true })),
        ...cells.flatMap((cell) => config.workers.map((w) => ({ w, cell, front: false }))),
      ]
    : config.workers.map((w) => ({ w, cell: null, front: false }));
  for (const [index, { w: declared, cell, front }] of instances.entries()) {
    if (typeof declared.name !== "string" || !/^[a-z0-9][a-z0-9-]*$/.test(declared.name)) {
      fail(`worker #${index}: "name" must be lowercase letters, digits and dashes`);
    }
    const w = cell ? { ...declared, name: `${declared.name}-${cell.name}` } : declared;
    const inCell = (queue) => (cell ? `${cell.name}-${queue}` : queue);
    if (names.has(w.name) || w.name === ROUTER_NAME) fail(`worker ${w.name}: duplicate name`);
    names.add(w.name);
    const service = `W_${index}`;
    const fromWrangler = w.wrangler ? await wranglerOptions(resolve(w.wrangler), w.name) : null;
    const base = fromWrangler?.options ?? {};
    if (fromWrangler?.deployed) deployedNames.set(`${cell?.name ?? ""}/${fromWrangler.deployed}`, w.name);
    let buildDir;
    let main = w.main ?? "index.js";
    if (w.build) buildDir = resolve(w.build);
    else if (fromWrangler?.main) {
      buildDir = path.dirname(fromWrangler.main);
      main = w.main ?? path.basename(fromWrangler.main);
    } else fail(`worker ${w.name}: "build" (folder with the built modules) or "wrangler" (with main) is required`);
    const modules = await workerModules(buildDir, main, w.name);
    for (const r of w.routes ?? []) (cell ? cellRoutes[cell.name] : routes).push(compileRoute(r, w.name, service));
    if (w.fallback) {
      if (cell ? cellFallback[cell.name] : fallback) fail(`worker ${w.name}: only one worker can be the fallback`);
      if (cell) cellFallback[cell.name] = service;
      else fallback = service;
    }

    const consumers = {};
    const inCellSettings = (settings) =>
      settings.deadLetterQueue ? { ...settings, deadLetterQueue: inCell(settings.deadLetterQueue) } : settings;
    for (const [q, settings] of Object.entries(base.queueConsumers ?? {})) {
      consumers[inCell(q)] = inCellSettings({ ...settings, ...queueOverrides, ...queues[q] });
    }
    for (const q of w.consumers ?? []) consumers[inCell(q)] = inCellSettings({ ...queueOverrides, ...queues[q] });
    const producers = {};
    for (const [binding, p] of Object.entries(base.queueProducers ?? {})) {
      producers[binding] = { ...p, queueName: inCell(p.queueName) };
    }
    for (const [binding, q] of Object.entries(w.producers ?? {})) {
      const queueName = typeof q === "string" ? q : q?.queue;
      if (typeof queueName !== "string") fail(`worker ${w.name}: producer ${binding} names no queue`);
      producers[binding] = {
        queueName: inCell(queueName),
        ...(typeof q === "object" && q.deliveryDelay ? { deliveryDelay: q.deliveryDelay } : {}),
      };
    }
    for (const q of Object.keys(consumers)) known.add(q);
    for (const settings of Object.values(consumers)) if (settings.deadLetterQueue) known.add(settings.deadLetterQueue);
    for (const p of Object.values(producers)) known.add(p.queueName);

    const crons = [...(base.cronTriggers ?? []), ...(w.crons ?? [])];
    const options = {
      ...base,
      name: w.name,
      rootPath: undefined,
      modulesRules: undefined,
      modules,
      modulesRoot: buildDir,
      compatibilityDate: w.compatibilityDate ?? base.compatibilityDate ?? compatibilityDate,
      compatibilityFlags: w.compatibilityFlags ?? base.compatibilityFlags ?? compatibilityFlags,
      bindings: {
        ...(base.bindings ?? {}),
        ...sharedVars,
        ...sharedSecrets,
        ...(cell ? await resolveBindings(cell.vars, dir, `cells.${cell.name}.vars`) : {}),
        ...(await resolveBindings(w.vars, dir, `${w.name}.vars`)),
        ...(await resolveBindings(w.secrets, dir, `${w.name}.secrets`)),
      },
      queueProducers: producers,
      queueConsumers: consumers,
      serviceBindings: { ...(base.serviceBindings ?? {}), ...(w.services ?? {}) },
      cronTriggers: crons,
    };
    // The shared database and namespace replace whatever id a wrangler
    // configuration names (placeholders, locally).
    // A front worker (the router) has no state of its own.
    if (d1 && !front) options.d1Databases = { ...(base.d1Databases ?? {}), [d1.binding]: inCell(d1.database) };
    else delete options.d1Databases;
    if (kv && !front) options.kvNamespaces = { ...(base.kvNamespaces ?? {}), [kv.binding]: inCell(kv.namespace) };
    else if (front) delete options.kvNamespaces;
    for (const key of Object.keys(options)) if (options[key] === undefined) delete options[key];
    workers.push(options);
    summaries.push({
      name: w.name,
      cell: cell?.name ?? null,
      service,
      routes: w.routes ?? [],
      fallback: Boolean(w.fallback),
      crons,
      consumers: Object.keys(consumers),
      producers: Object.fromEntries(Object.entries(producers).map(([b, p]) => [b, p.queueName])),
    });
  }
  for (const [index, s] of summaries.entries()) {
    for (const [binding, object] of Object.entries(workers[index].durableObjects ?? {})) {
      if (typeof object !== "object" || !object.scriptName) continue;
      const local = deployedNames.get(`${s.cell ?? ""}/${object.scriptName}`);
      if (!local) fail(`worker ${s.name}: Durable Object ${binding} lives in unknown worker ${object.scriptName}`);
      workers[index].durableObjects[binding] = { ...object, scriptName: local };
    }
    for (const target of Object.values(workers[index].serviceBindings)) {
      const name = typeof target === "string" ? target : target?.name;
      if (!names.has(name)) fail(`worker ${s.name}: service binding to unknown worker ${name}`);
    }
  }
  for (const [q, settings] of Object.entries(queues)) {
    if (settings.deadLetterQueue) known.add(settings.deadLetterQueue);
    if (!workers.some((w) => q in w.queueConsumers)) console.log(`gasline: warning: queue ${q} has settings but no consumer`);
  }
  const consumed = new Set(summaries.flatMap((s) => s.consumers));
  const unconsumed = [...known].filter((q) => !consumed.has(q));
  if (unconsumed.length > 0) {
    console.log(`gasline: queues without a consumer (messages stay there): ${unconsumed.join(", ")}`);
  }

  const queueNames = [...known].sort();
  const router = {
    name: ROUTER_NAME,
    modules: [{ type: "ESModule", path: path.join(HARNESS_DIR, "router.js") }],
    modulesRoot: HARNESS_DIR,
    compatibilityDate,
    compatibilityFlags: ["service_binding_extra_handlers"],
    bindings: {
      HARNESS_ROUTES: routes,
      HARNESS_WORKERS: summaries,
      HARNESS_QUEUES: Object.fromEntries(queueNames.map((q, i) => [q, `Q_${i}`])),
      HARNESS_FALLBACK: fallback,
      HARNESS_CELL_ROUTES: cellRoutes,
      HARNESS_CELL_FALLBACK: cellFallback,
    },
    serviceBindings: Object.fromEntries(summaries.map((s) => [s.service, s.name])),
    queueProducers: Object.fromEntries(queueNames.map((q, i) => [`Q_${i}`, { queueName: q }])),
    ...(d1 && !cells ? { d1Databases: { HARNESS_DB: d1.database } } : {}),
    ...(d1 && cells
      ? { d1Databases: Object.fromEntries(cells.map((c) => [`HARNESS_DB_${c.name}`, `${d1.database}-${c.name}`])) }
      : {}),
  };

  const persist = args.persist ?? (config.persist ? resolve(config.persist) : undefined);
  const options = {
    host: HOST,
    port: args.port,
    log: new Log(args.verbose ? LogLevel.DEBUG : LogLevel.INFO),
    logRequests: args.logRequests,
    // Offline: no fetch of the real `request.cf` object, no telemetry.
    cf: false,
    telemetry: { enabled: false },
    ...(persist ? { resourcePersistencePath: path.resolve(persist) } : {}),
    workers: [router, ...workers],
  };
  const sharedSeeds = [...(d1?.seed ?? []).map(resolve), ...args.seeds];
  // The databases to migrate and seed: each cell's (through its first
  // worker), or the one shared database.
  const databases = cells
    ? cells.map((c) => ({
        label: `cell ${c.name}`,
        worker: summaries.find((s) => s.cell === c.name).name,
        seeds: [...sharedSeeds, ...(c.seed ?? []).map(resolve)],
      }))
    : [{ label: "", worker: summaries[0].name, seeds: sharedSeeds }];
  const sql = {
    d1,
    migrations: d1?.migrations ? resolve(d1.migrations) : path.join(REPO_ROOT, "infra", "migrations"),
    databases,
  };
  return { options, sql, summaries, persist };
}

// --- main --------------------------------------------------------------------

async function main() {
  const args = parseArgs(process.argv.slice(2));
  args.port = parsePort(args.port ?? process.env.GASLINE_PORT ?? String(DEFAULT_PORT));
  // A value may name the harness's own address (a router forwarding to the
  // cells behind it): the port must be known before the workers are built.
  if (args.port === 0) args.port = await freePort();
  harnessBase = `http://${HOST}:${args.port}`;
  const { config, dir } = await loadConfig(args.config);
  const { options, sql, summaries, persist } = await buildOptions(config, dir, args);

  const started = performance.now();
  const mf = new Miniflare(convertV4MiniflareOptions(options));
  let stopping = null;
  const stop = (why, code = 0) => {
    if (stopping) return stopping;
    console.log(`gasline: stopping (${why})`);
    stopping = mf
      .dispose()
      .catch((error) => {
        console.error(`gasline: dispose failed: ${error?.stack ?? error}`);
        code = 1;
      })
      .finally(() => {
        console.log("gasline: stopped");
        process.exit(code);
      });
    return stopping;
  };
  // Miniflare's own signal hooks kill workerd and exit at once (status
  // 128+n); replace them with a clean dispose. Its "exit" hook stays as the
  // safety net that kills workerd however this process ends.
  for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"]) {
    process.removeAllListeners(signal);
    process.on(signal, () => {
      if (stopping) {
        console.log(`gasline: ${signal} again: exiting without waiting`);
        process.exit(1);
      }
      stop(signal);
    });
  }
  if (args.exitOnStdinClose) {
    process.stdin.on("end", () => stop("stdin closed"));
    process.stdin.on("error", () => stop("stdin error"));
    process.stdin.resume();
  }

  try {
    const url = await mf.ready;
    if (sql.d1) {
      const migrationFiles = await stat(sql.migrations).then(
        () => sqlFiles(sql.migrations),
        () => fail(`migrations folder ${sql.migrations} is missing`),
      );
      for (const target of sql.databases) {
        const db = await mf.getD1Database(sql.d1.binding, target.worker);
        const label = target.label ? `${target.label}: ` : "";
        await applySqlFiles(db, MIGRATIONS_TABLE, migrationFiles, `${label}migration`);
        if (target.seeds.length > 0) {
          const seeds = target.seeds.map((file) => ({ name: path.basename(file), file }));
          await applySqlFiles(db, SEEDS_TABLE, seeds, `${label}seed`);
        }
      }
    }
    for (const s of summaries) {
      const parts = [s.routes.length ? `routes ${s.routes.join(", ")}` : "no routes"];
      if (s.fallback) parts.push("fallback");
      if (s.consumers.length) parts.push(`consumes ${s.consumers.join(", ")}`);
      const produces = Object.entries(s.producers);
      if (produces.length > 4) parts.push(`produces to ${produces.length} queues`);
      else if (produces.length) parts.push(`produces ${produces.map(([b, q]) => `${b}→${q}`).join(", ")}`);
      if (s.crons.length) parts.push(`crons ${s.crons.join(", ")}`);
      console.log(`gasline: worker ${s.name}: ${parts.join("; ")}`);
    }
    console.log(`gasline: state ${persist ? `persisted in ${path.resolve(persist)}` : "in memory (gone on exit)"}`);
    const base = `http://${HOST}:${url.port}`;
    // Migrated and seeded: open the doors, then start the clocks.
    const opened = await fetch(`${base}/__harness/ready`, { method: "POST" });
    if (!opened.ok) throw new Error(`opening the router answered ${opened.status}`);
    if (args.crons === "scheduled") scheduleCrons(base, summaries, () => stopping !== null);
    console.log(`gasline: started in ${Math.round(performance.now() - started)} ms`);
    console.log(`gasline: ready on ${base}`);
  } catch (error) {
    console.error(`gasline: startup failed: ${error?.stack ?? error}`);
    await stop("startup failed", 1);
  }
}

/**
 * Fires each worker's crons on their schedule (UTC, to the minute, as
 * Cloudflare does) through the router's control path, for as long as the
 * harness runs. A firing that fails is logged; the next one comes anyway.
 */
function scheduleCrons(base, summaries, isStopping) {
  for (const s of summaries) {
    for (const expression of s.crons) {
      const cron = parseCron(expression);
      const arm = () => {
        const at = nextFire(cron, Date.now());
        if (at === null) return;
        const timer = setTimeout(async () => {
          arm();
          const query = new URLSearchParams({ worker: s.name, cron: expression, time: String(at) });
          try {
            const fired = await fetch(`${base}/__harness/scheduled?${query}`, { method: "POST" });
            if (!fired.ok) console.error(`gasline: cron ${expression} of ${s.name} answered ${fired.status}: ${await fired.text()}`);
          } catch (error) {
            if (!isStopping()) console.error(`gasline: cron ${expression} of ${s.name}: ${error?.message ?? error}`);
          }
        }, at - Date.now());
        // A pending cron never keeps the harness alive on its own.
        timer.unref();
      };
      arm();
    }
  }
  const crons = summaries.filter((s) => s.crons.length).map((s) => `${s.name} (${s.crons.join(", ")})`);
  if (crons.length) console.log(`gasline: crons fire on their schedule: ${crons.join("; ")}`);
}

main();
