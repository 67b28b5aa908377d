// Cron schedules as Cloudflare reads them (five fields, UTC: minute, hour,
// day of month, month, day of week), so the harness can fire each worker's
// crons on their schedule the way production does. Fields take `*`, a
// number, a range `a-b`, a step `*/n` or `a-b/n`, lists of those, and month
// and weekday names (JAN, MON); Sunday is 0 or 7. Quartz extras (L, W, #)
// are refused at startup rather than silently misread.

const FIELDS = [
  { name: "minute", min: 0, max: 59 },
  { name: "hour", min: 0, max: 23 },
  { name: "day of month", min: 1, max: 31 },
  { name: "month", min: 1, max: 12, names: ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"] },
  { name: "day of week", min: 0, max: 7, names: ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"] },
];

function value(field, text) {
  const upper = text.toUpperCase();
  const named = field.names?.indexOf(upper) ?? -1;
  if (named >= 0) return named + (field.name === "month" ? 1 : 0);
  if (!/^\d+$/.test(text)) throw new Error(`cron ${field.name}: ${JSON.stringify(text)} is not a number or name`);
  const n = Number(text);
  if (n < field.min || n > field.max) throw new Error(`cron ${field.name}: ${n} is outside ${field.min}-${field.max}`);
  return n;
}

/** The set of values one field allows, and whether it was `*`. */
function parseField(field, text) {
  const allowed = new Set();
  for (const part of text.split(",")) {
    const [range, stepText] = part.split("/");
    const step = stepText === undefined ? 1 : Number(stepText);
    if (!Number.isInteger(step) || step < 1) throw new Error(`cron ${field.name}: bad step in ${JSON.stringify(part)}`);
    let from;
    let to;
    if (range === "*") {
      [from, to] = [field.min, field.max];
    } else if (range.includes("-")) {
      const [a, b] = range.split("-");
      [from, to] = [value(field, a), value(field, b)];
      if (from > to) throw new Error(`cron ${field.name}: range ${JSON.stringify(range)} runs backwards`);
    } else {
      from = value(field, range);
      to = stepText === undefined ? from : field.max;
    }
    for (let v = from; v <= to; v += step) allowed.add(field.name === "day of week" && v === 7 ? 0 : v);
  }
  return { allowed, any: text === "*" };
}

/** Parses a schedule; throws with the field at fault. */
export function parseCron(expression) {
  const parts = expression.trim().split(/\s+/);
  if (parts.length !== 5) throw new Error(`cron ${JSON.stringify(expression)}: five fields expected, got ${parts.length}`);
  const [minute, hour, dom, month, dow] = parts.map((text, i) => parseField(FIELDS[i], text));
  return { expression, minute, hour, dom, month, dow };
}

function matches(cron, date) {
  if (!cron.minute.allowed.has(date.getUTCMinutes())) return false;
  if (!cron.hour.allowed.has(date.getUTCHours())) return false;
  if (!cron.month.allowed.has(date.getUTCMonth() + 1)) return false;
  const dom = cron.dom.allowed.has(date.getUTCDate());
  const dow = cron.dow.allowed.has(date.getUTCDay());
  // As in every cron: with both day fields restricted, either one will do.
  if (!cron.dom.any && !cron.dow.any) return dom || dow;
  return dom && dow;
}

/** The first whole minute strictly after `afterMs` (epoch ms) the schedule fires at, or null within 5 years. */
export function nextFire(cron, afterMs) {
  const date = new Date(Math.floor(afterMs / 60_000) * 60_000 + 60_000);
  const limit = afterMs + 5 * 366 * 24 * 3_600_000;
  while (date.getTime() <= limit) {
    if (matches(cron, date)) return date.getTime();
    date.setTime(date.getTime() + 60_000);
  }
  return null;
}
