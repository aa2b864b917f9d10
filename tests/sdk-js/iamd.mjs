// Helpers for the AWS SDK for JavaScript v3 suite: start the real iamd binary on a free port with
// a fresh data directory, read the root credentials it generates, build SDK clients for it, and
// compute TOTP codes (RFC 6238) from a device's seed.
//
// The SDK packages are pinned (package.json) to 3.967.0, the last release whose engines allow
// Node 18, Debian bookworm's nodejs; `overrides` keeps the one dependency that later asked for
// Node 20 (@aws-sdk/util-locate-window, browser-only) on a release that allows 18 too.

import { execFileSync, spawn } from "node:child_process";
import { createHmac } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, openSync, closeSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

import { IAMClient } from "@aws-sdk/client-iam";
import { STSClient } from "@aws-sdk/client-sts";

// Nothing from the host's AWS configuration may leak in (profiles, regions, endpoints).
const isolation = mkdtempSync(join(tmpdir(), "iamd-sdk-js-awsenv-"));
for (const name of Object.keys(process.env)) {
  if (name.startsWith("AWS_")) delete process.env[name];
}
process.env.AWS_CONFIG_FILE = join(isolation, "config");
process.env.AWS_SHARED_CREDENTIALS_FILE = join(isolation, "credentials");
process.env.AWS_EC2_METADATA_DISABLED = "true";

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");

export function iamdBinary() {
  return process.env.IAMD_BIN || join(REPO_ROOT, "target", "debug", "iamd");
}

function freePort() {
  return new Promise((ok, fail) => {
    const server = createServer();
    server.once("error", fail);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => ok(port));
    });
  });
}

const sleep = (ms) => new Promise((ok) => setTimeout(ok, ms));

/** Parses `KEY=VALUE` lines (the data directory's root-credentials file). */
function parseEnvFile(text) {
  const values = {};
  for (const line of text.split("\n")) {
    const eq = line.indexOf("=");
    if (eq > 0) values[line.slice(0, eq).trim()] = line.slice(eq + 1).trim();
  }
  return values;
}

/**
 * With IAMD_TEST_DATABASE_URL set (scripts/with-postgres), a database of its own on that
 * PostgreSQL server, made with `psql` as the black-box suite does: its URL and a `drop()`.
 * Otherwise `undefined`: the embedded store is used.
 */
function createDatabase() {
  const admin = process.env.IAMD_TEST_DATABASE_URL;
  if (!admin) return undefined;
  const name = `iamd_sdk_js_${process.pid}_${Date.now()}_${Math.floor(Math.random() * 1e6)}`;
  const psql = (sql) => execFileSync("psql", [admin, "-qc", sql], { stdio: ["ignore", "ignore", "pipe"] });
  psql(`CREATE DATABASE "${name}"`);
  const url = new URL(admin);
  url.pathname = `/${name}`;
  return { url: url.toString(), drop: () => psql(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`) };
}

/**
 * An `iamd serve` child process with generated root credentials, on the embedded store or, when
 * IAMD_TEST_DATABASE_URL is set, on a fresh PostgreSQL database.
 * `await Iamd.start()`; `stop()` when done (the data directory and database are removed).
 */
export class Iamd {
  static async start({ timeoutMs = 60_000 } = {}) {
    const base = mkdtempSync(join(tmpdir(), "iamd-sdk-js-"));
    const iamd = new Iamd(base);
    await iamd.#launch(timeoutMs);
    return iamd;
  }

  constructor(base) {
    this.base = base;
    this.dataDir = join(base, "data");
    this.logPath = join(base, "iamd.log");
    this.database = createDatabase();
  }

  async #launch(timeoutMs) {
    const binary = iamdBinary();
    let lastError;
    for (let attempt = 0; attempt < 3; attempt++) {
      this.port = await freePort();
      this.endpoint = `http://127.0.0.1:${this.port}`;
      const env = Object.fromEntries(
        Object.entries(process.env).filter(([k]) => !k.startsWith("AWS_") && !k.startsWith("IAMD_")),
      );
      const log = openSync(this.logPath, "a");
      const storage = this.database ? ["--database-url", this.database.url] : [];
      const args = ["serve", "--listen", `127.0.0.1:${this.port}`, "--data-dir", this.dataDir, ...storage];
      this.proc = spawn(binary, args, {
        env,
        stdio: ["ignore", log, log],
      });
      closeSync(log);
      this.exited = new Promise((ok) => this.proc.once("exit", (code, signal) => ok({ code, signal })));
      this.proc.once("error", (e) => {
        lastError = e;
      });
      try {
        await this.#waitHealthy(timeoutMs);
        break;
      } catch (e) {
        lastError = e;
        this.proc.kill("SIGKILL");
        await this.exited;
        this.proc = undefined;
      }
    }
    if (!this.proc) {
      throw new Error(`iamd (${binary}) did not start: ${lastError?.message}\n--- log ---\n${this.log().slice(-8000)}`);
    }
    const creds = parseEnvFile(readFileSync(join(this.dataDir, "root-credentials"), "utf8"));
    this.accountId = creds.IAMD_ACCOUNT_ID;
    this.root = { accessKeyId: creds.AWS_ACCESS_KEY_ID, secretAccessKey: creds.AWS_SECRET_ACCESS_KEY };
    if (!/^\d{12}$/.test(this.accountId ?? "") || !this.root.accessKeyId || !this.root.secretAccessKey) {
      throw new Error(`unexpected root-credentials file: ${JSON.stringify(Object.keys(creds))}`);
    }
  }

  async #waitHealthy(timeoutMs) {
    const deadline = Date.now() + timeoutMs;
    let exited = false;
    this.exited.then(() => {
      exited = true;
    });
    while (Date.now() < deadline) {
      if (exited) throw new Error(`exited with ${JSON.stringify(await this.exited)}`);
      try {
        const r = await fetch(`${this.endpoint}/health`, { signal: AbortSignal.timeout(2000) });
        if (r.status === 200) return;
      } catch {
        // not listening yet
      }
      await sleep(50);
    }
    throw new Error(`not healthy after ${timeoutMs} ms`);
  }

  log() {
    try {
      return readFileSync(this.logPath, "utf8");
    } catch {
      return "";
    }
  }

  async stop() {
    if (this.proc && this.proc.exitCode === null && this.proc.signalCode === null) {
      this.proc.kill("SIGTERM");
      const timer = setTimeout(() => this.proc.kill("SIGKILL"), 15_000);
      await this.exited;
      clearTimeout(timer);
    }
    this.database?.drop();
    rmSync(this.base, { recursive: true, force: true });
  }

  #config(credentials) {
    // One attempt per call: a retried request would spend one-time codes twice.
    return { endpoint: this.endpoint, region: "us-east-1", credentials, maxAttempts: 1 };
  }

  /** An IAM client; `credentials` default to root's. */
  iam(credentials = this.root) {
    return new IAMClient(this.#config(credentials));
  }

  /** An STS client; `credentials` default to root's. */
  sts(credentials = this.root) {
    return new STSClient(this.#config(credentials));
  }

  userArn(name) {
    return `arn:aws:iam::${this.accountId}:user/${name}`;
  }

  mfaArn(name) {
    return `arn:aws:iam::${this.accountId}:mfa/${name}`;
  }
}

// ---------------------------------------------------------------------------------------------
// TOTP (RFC 6238: HMAC-SHA1, 6 digits, 30 s steps from the Unix epoch)
// ---------------------------------------------------------------------------------------------

export const STEP_SECONDS = 30;

const BASE32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/** RFC 4648 Base32 (no padding expected) to bytes. */
export function base32Decode(text) {
  let bits = 0;
  let value = 0;
  const out = [];
  for (const ch of text.replace(/=+$/, "")) {
    const index = BASE32.indexOf(ch);
    if (index < 0) throw new Error(`not Base32: ${JSON.stringify(ch)}`);
    value = (value << 5) | index;
    bits += 5;
    if (bits >= 8) {
      bits -= 8;
      out.push((value >>> bits) & 0xff);
    }
  }
  return Buffer.from(out);
}

/** The 6-digit code of `key` (bytes) for time step `step` (RFC 4226 HOTP of the step counter). */
export function totpAtStep(key, step) {
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(step));
  const mac = createHmac("sha1", key).update(counter).digest();
  const offset = mac[mac.length - 1] & 0x0f;
  const binary = mac.readUInt32BE(offset) & 0x7fffffff;
  return String(binary % 1_000_000).padStart(6, "0");
}

export function stepOf(unixSeconds) {
  return Math.floor(unixSeconds / STEP_SECONDS);
}

/**
 * The current time step, first sleeping into the next step if fewer than `marginSeconds` remain
 * in this one, so that "the code of the next step" is still acceptable a few requests later
 * (as the boto3 suite's `current_pair(margin=8)`).
 */
export async function currentStep(marginSeconds = 8) {
  const now = Date.now() / 1000;
  const remaining = STEP_SECONDS - (now % STEP_SECONDS);
  if (remaining < marginSeconds) {
    await sleep((remaining + 0.25) * 1000);
  }
  return stepOf(Date.now() / 1000);
}

/** A virtual device's seed, as the SDK returns it (the Base32 text as bytes). */
export class Totp {
  constructor(seedBytes) {
    this.seed = Buffer.from(seedBytes).toString("ascii");
    this.key = base32Decode(this.seed);
  }

  at(step) {
    return totpAtStep(this.key, step);
  }

  /** The consecutive pair whose second code is for `step`: what EnableMFADevice wants. */
  pair(step) {
    return [this.at(step - 1), this.at(step)];
  }

  /** A 6-digit code that is this seed's code at no step from 26 h before to 20 min after now. */
  invalidCode() {
    const now = stepOf(Date.now() / 1000);
    const used = new Set();
    for (let s = now - (26 * 3600) / STEP_SECONDS; s <= now + 1200 / STEP_SECONDS; s++) used.add(this.at(s));
    for (let n = 123456; ; n += 7919) {
      const code = String(n % 1_000_000).padStart(6, "0");
      if (!used.has(code)) return code;
    }
  }
}

let counter = 0;

/** A fresh name usable as a user or device name. */
export function unique(prefix) {
  counter += 1;
  return `${prefix}-${process.pid}-${Date.now().toString(36)}-${counter}`;
}
