// Starting and stopping the harness from tests: one child process per
// harness, in its own process group, on a free port.

import { spawn, execFileSync } from "node:child_process";
import path from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";

export const HARNESS_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

/**
 * Starts `run.mjs --config CONFIG --port 0 ARGS…` and resolves once it prints
 * its ready line, with {url, child, output(), stop()}.
 */
export function startHarness(config, { args = [], env = {}, timeoutMs = 60_000 } = {}) {
  const child = spawn(
    process.execPath,
    [path.join(HARNESS_DIR, "run.mjs"), "--config", config, "--port", "0", "--exit-on-stdin-close", ...args],
    // stdin stays open while this process lives: if the test runner dies
    // without stopping the harness, the pipe closes and the harness stops.
    { env: { ...process.env, ...env }, stdio: ["pipe", "pipe", "pipe"], detached: true },
  );
  let output = "";
  const collect = (chunk) => {
    output += chunk;
    if (process.env.HARNESS_TEST_VERBOSE) process.stderr.write(chunk);
  };
  child.stdout.setEncoding("utf8").on("data", collect);
  child.stderr.setEncoding("utf8").on("data", collect);
  const exited = new Promise((resolve) => child.on("exit", (code, signal) => resolve({ code, signal })));

  const ready = new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`harness not ready after ${timeoutMs} ms:\n${output}`)), timeoutMs);
    const onData = () => {
      const match = /gasline: ready on (http:\/\/\S+)/.exec(output);
      if (match) {
        clearTimeout(timer);
        resolve(match[1]);
      }
    };
    child.stdout.on("data", onData);
    exited.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(new Error(`harness exited (${code ?? signal}) before it was ready:\n${output}`));
    });
  });

  const stop = async (signal = "SIGTERM") => {
    if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    const result = await exited;
    return result;
  };
  return ready.then(
    (url) => ({ url, child, exited, stop, output: () => output, workerdPids: () => childPids(child.pid) }),
    async (error) => {
      killGroup(child.pid);
      throw error;
    },
  );
}

/** Pids of the direct children of `pid` (the workerd process under the harness). */
export function childPids(pid) {
  try {
    return execFileSync("ps", ["-o", "pid=", "--ppid", String(pid)], { encoding: "utf8" })
      .split("\n")
      .map((s) => s.trim())
      .filter(Boolean)
      .map(Number);
  } catch {
    return []; // ps exits 1 when there is none
  }
}

/** Whether a process is still running (a zombie counts as gone). */
export function isRunning(pid) {
  try {
    const state = execFileSync("ps", ["-o", "stat=", "-p", String(pid)], { encoding: "utf8" }).trim();
    return state !== "" && !state.startsWith("Z");
  } catch {
    return false;
  }
}

function killGroup(pid) {
  try {
    process.kill(-pid, "SIGKILL");
  } catch {
    // already gone
  }
}

export async function json(response) {
  const text = await response.text();
  try {
    return JSON.parse(text);
  } catch {
    throw new Error(`not JSON (${response.status}): ${text}`);
  }
}

export function percentile(sorted, p) {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}
