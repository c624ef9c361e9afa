/** argon2id on the server's CPU: the implementations side by side, and the service's hasher alone. */
import { join } from "node:path";
import { ARGON2ID_IMPLEMENTATION } from "../../../src/hashing/password-hasher";
import type { HashComparison } from "../hash-implementations";
import { onCpu, progress, run, SERVER_CPU } from "./proc";
import type { HashRates } from "./report";

/** The side-by-side comparison: rounds, and verifications per round at the configured parameters. */
const COMPARISON_ROUNDS = 3;
const COMPARISON_HASHES = 40;
/** Stronger parameter sets beside the configured one, both accepted by the service: what the headroom buys. */
const STRONGER_HASHES = [
  { memoryCostKiB: 47_104, timeCost: 2 },
  { memoryCostKiB: 65_536, timeCost: 3 },
];

/** The service's hasher, verifying one hash after another on the server's CPU for `seconds`: verifications/s. */
export async function hashRate(memoryCostKiB: number, timeCost: number, seconds: number): Promise<number> {
  const command = [process.execPath, join(import.meta.dir, "..", "hash-rate.ts"), String(memoryCostKiB), String(timeCost), String(seconds)];
  return (JSON.parse(await run(onCpu(SERVER_CPU, command))) as { perSecond: number }).perSecond;
}

export async function measureHashRates(configured: { memoryCostKiB: number; timeCost: number }): Promise<HashRates> {
  progress("argon2id implementations side by side");
  const sets = [configured, ...STRONGER_HASHES].map((set) => `${set.memoryCostKiB},${set.timeCost}`);
  const command = [
    process.execPath,
    join(import.meta.dir, "..", "hash-implementations.ts"),
    String(COMPARISON_ROUNDS),
    String(COMPARISON_HASHES),
  ];
  // The comparison measures every implementation, whatever NAPI_RS_NATIVE_LIBRARY_PATH makes the service use.
  const { NAPI_RS_NATIVE_LIBRARY_PATH: _, ...env } = process.env;
  const comparison = JSON.parse(await run(onCpu(SERVER_CPU, [...command, ...sets]), env as Record<string, string>)) as HashComparison;
  const fromEnv = process.env.PASSWORD_HASH_MEMORY_KIB !== undefined || process.env.PASSWORD_HASH_TIME_COST !== undefined;
  return { comparison, service: ARGON2ID_IMPLEMENTATION.name, configuredFromEnv: fromEnv };
}
