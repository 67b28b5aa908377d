// Self-test worker: HTTP in, D1 + KV + a queue producer out.
export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    const parts = url.pathname.split("/").slice(1);
    if (request.method === "POST" && url.pathname === "/hop") {
      const body = request.headers.get("content-type")?.includes("json") ? await request.json() : {};
      const id = crypto.randomUUID();
      await env.DB.prepare("INSERT INTO hops (id, sent_at) VALUES (?, ?)").bind(id, Date.now()).run();
      const sentAt = Date.now();
      await env.HOP.send({ id, sentAt, fail: Boolean(body.fail) });
      return Response.json({ id, sentAt }, { status: 202 });
    }
    if (parts[0] === "hop" && parts.length === 2) {
      const row = await env.DB.prepare("SELECT * FROM hops WHERE id = ?").bind(parts[1]).first();
      return row ? Response.json(row) : new Response("no such hop", { status: 404 });
    }
    if (parts[0] === "kv" && parts.length === 2) {
      if (request.method === "PUT") {
        await env.KV.put(parts[1], await request.text());
        return new Response(null, { status: 204 });
      }
      const value = await env.KV.get(parts[1]);
      return value === null ? new Response("no such key", { status: 404 }) : new Response(value);
    }
    if (url.pathname === "/env") {
      return Response.json({ worker: "producer", role: env.ROLE, greeting: env.GREETING, tokenLength: env.TOKEN.length });
    }
    if (parts[0] === "items" && parts[2] === "name") {
      const row = await env.DB.prepare("SELECT name FROM items WHERE id = ?").bind(parts[1]).first();
      return row ? new Response(row.name) : new Response("no such item", { status: 404 });
    }
    return new Response(`producer has no ${request.method} ${url.pathname}`, { status: 404 });
  },
};
