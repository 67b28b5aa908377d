// Self-test worker: queue consumer (with retries and a dead-letter queue) and a cron.
export default {
  async queue(batch, env) {
    const now = Date.now();
    for (const message of batch.messages) {
      const { id, fail } = message.body;
      if (batch.queue === "selftest-dlq") {
        await env.DB.prepare("UPDATE hops SET dead_at = ? WHERE id = ?").bind(now, id).run();
        message.ack();
        continue;
      }
      await env.DB.prepare(
        "UPDATE hops SET attempts = attempts + 1, received_at = COALESCE(received_at, ?) WHERE id = ?",
      )
        .bind(now, id)
        .run();
      if (fail) message.retry();
      else message.ack();
    }
  },
  async scheduled(controller, env) {
    await env.DB.prepare("INSERT INTO cron_runs (cron, at) VALUES (?, ?)").bind(controller.cron, Date.now()).run();
  },
  async fetch(request, env) {
    const id = new URL(request.url).pathname.split("/")[2];
    const row = await env.DB.prepare("SELECT * FROM items WHERE id = ?").bind(id).first();
    return Response.json({ worker: "consumer", role: env.ROLE, item: row });
  },
};
