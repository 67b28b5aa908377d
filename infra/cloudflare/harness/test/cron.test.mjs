// The harness's cron schedules (harness/cron.mjs), read as Cloudflare reads
// them: which minute each fires at next, and what is refused.
//
//   infra/cloudflare/node_modules/.bin/node --test infra/cloudflare/harness/test/cron.test.mjs

import assert from "node:assert/strict";
import { test } from "node:test";

import { nextFire, parseCron } from "../cron.mjs";

const at = (iso) => Date.parse(iso);
const next = (expression, iso) => new Date(nextFire(parseCron(expression), at(iso))).toISOString();

test("every minute fires at the next whole minute, never the current one", () => {
  assert.equal(next("* * * * *", "2026-12-07T09:15:00.000Z"), "2026-12-07T09:16:00.000Z");
  assert.equal(next("* * * * *", "2026-12-07T09:15:59.999Z"), "2026-12-07T09:16:00.000Z");
});

test("steps, ranges, lists and names", () => {
  assert.equal(next("*/15 * * * *", "2026-12-07T09:15:00.000Z"), "2026-12-07T09:30:00.000Z");
  assert.equal(next("0 7-9/2 * * *", "2026-12-07T07:00:00.000Z"), "2026-12-07T09:00:00.000Z");
  assert.equal(next("5,10 0 * * *", "2026-12-07T00:05:00.000Z"), "2026-12-07T00:10:00.000Z");
  // 2026-12-07 is a Monday.
  assert.equal(next("0 0 * * SUN", "2026-12-07T09:00:00.000Z"), "2026-12-13T00:00:00.000Z");
  assert.equal(next("0 0 * * 7", "2026-12-07T09:00:00.000Z"), "2026-12-13T00:00:00.000Z");
  assert.equal(next("0 0 1 JAN *", "2026-12-07T09:00:00.000Z"), "2027-01-01T00:00:00.000Z");
});

test("with both day fields restricted, either one fires", () => {
  // The 1st of the month or a Wednesday, whichever comes first.
  assert.equal(next("0 0 1 * WED", "2026-12-07T09:00:00.000Z"), "2026-12-09T00:00:00.000Z");
  assert.equal(next("0 0 8 * WED", "2026-12-07T09:00:00.000Z"), "2026-12-08T00:00:00.000Z");
});

test("schedules that are not Cloudflare's five fields are refused", () => {
  for (const bad of ["* * * *", "* * * * * *", "60 * * * *", "* 24 * * *", "0 0 L * *", "0 0 * * 1#2", "*/0 * * * *", "5-1 * * * *"]) {
    assert.throws(() => parseCron(bad), undefined, bad);
  }
  assert.equal(nextFire(parseCron("0 0 31 2 *"), at("2026-12-07T00:00:00Z")), null, "February 31st never comes");
});
