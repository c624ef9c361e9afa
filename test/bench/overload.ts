/**
 * The overload scenarios of `bun run bench` (issue 12), each against the isolated hash rate measured
 * right before it on the service's CPU:
 *  - lecture-hall burst: 50 registrations from 50 client addresses at once, then 50 logins at once;
 *  - campus peak: logins arriving open-loop (Poisson) at 0.9 × the hash rate;
 *  - flood: 3 × the hash rate of logins from one address, ordinary logins from 40 others beside it,
 *    and /health probed throughout.
 * Client addresses are X-Forwarded-For entries: the service runs with TRUST_PROXY=true.
 */

import { openLoop, type TimedAnswer, timedRequest } from "./lib/open-loop";
import { memoryBytes, progress, resetPeakMemory } from "./lib/proc";

export const LECTURE_HALL_STUDENTS = 50;
export const CAMPUS_PEAK_LOAD = 0.9;
export const FLOOD_LOAD = 3;
/** Ordinary logins beside the flood, as a share of the hash rate, from this many addresses. */
export const FLOOD_OTHERS_LOAD = 0.2;
const FLOOD_OTHER_ADDRESSES = 40;
/** /health probes per second during the flood (open-loop, so they measure answers, not add load). */
const HEALTH_PROBES_PER_SECOND = 20;

export interface OverloadTarget {
  baseUrl: string;
  pid: number;
  database: string;
  /** accounts bench1..benchN@mit.edu exist, verified, with `password` */
  seededAccounts: number;
  password: string;
  /** the isolated hash rate (verifications/s) on the service's CPU, measured now */
  measureHashRate: () => Promise<number>;
  /** marks every unverified account verified (the link exists only as a hash) */
  verifyPending: () => Promise<void>;
  /** waits until the service is idle */
  settle: () => Promise<void>;
  durationMs: number;
}

export interface LectureHallRun {
  hashRate: number;
  register: TimedAnswer[];
  login: TimedAnswer[];
}

export interface OpenLoopRun {
  hashRate: number;
  durationMs: number;
  answers: TimedAnswer[];
}

export interface FloodRun extends OpenLoopRun {
  peakRssBytes: number;
}

export interface OverloadRun {
  lectureHall: LectureHallRun;
  campusPeak: OpenLoopRun;
  flood: FloodRun;
}

const login = (account: number, password: string, address: string) => ({
  path: "/api/auth/login",
  body: { email: `bench${account}@mit.edu`, password },
  headers: { "x-forwarded-for": address },
});

async function lectureHall(target: OverloadTarget): Promise<LectureHallRun> {
  const hashRate = await target.measureHashRate();
  progress(`${target.database}: lecture-hall burst (${LECTURE_HALL_STUDENTS} registrations, then ${LECTURE_HALL_STUDENTS} logins)`);
  const prefix = `h${crypto.randomUUID().replaceAll("-", "").slice(0, 8)}`;
  const students = Array.from({ length: LECTURE_HALL_STUDENTS }, (_, index) => ({
    email: `${prefix}_${index}@mit.edu`,
    username: `${prefix}_${index}`,
    headers: { "x-forwarded-for": `10.12.${Math.floor(index / 250)}.${(index % 250) + 1}` },
  }));
  const all = async (spec: (student: (typeof students)[number]) => Parameters<typeof timedRequest>[2]) => {
    const origin = performance.now();
    return Promise.all(students.map((student) => timedRequest(target.baseUrl, "burst", spec(student), origin)));
  };
  const register = await all(({ email, username, headers }) => ({
    path: "/api/auth/register",
    body: { email, username, password: target.password, firstName: "Student" },
    headers,
  }));
  await target.verifyPending();
  await target.settle();
  const login = await all(({ email, headers }) => ({ path: "/api/auth/login", body: { email, password: target.password }, headers }));
  return { hashRate, register, login };
}

async function campusPeak(target: OverloadTarget): Promise<OpenLoopRun> {
  const hashRate = await target.measureHashRate();
  const rate = CAMPUS_PEAK_LOAD * hashRate;
  progress(`${target.database}: campus peak (${rate.toFixed(1)} logins/s, open-loop, ${target.durationMs / 1000} s)`);
  const answers = await openLoop(
    target.baseUrl,
    [
      {
        name: "logins",
        ratePerSecond: rate,
        request: (n) => login((n % target.seededAccounts) + 1, target.password, `10.13.${Math.floor(n / 250) % 250}.${(n % 250) + 1}`),
      },
    ],
    target.durationMs,
  );
  return { hashRate, durationMs: target.durationMs, answers };
}

async function flood(target: OverloadTarget): Promise<FloodRun> {
  const hashRate = await target.measureHashRate();
  progress(`${target.database}: flood (${(FLOOD_LOAD * hashRate).toFixed(1)} logins/s from one address, ${target.durationMs / 1000} s)`);
  // The flood and the others use separate halves of the seeded accounts.
  const half = Math.max(1, Math.floor(target.seededAccounts / 2));
  resetPeakMemory(target.pid);
  const answers = await openLoop(
    target.baseUrl,
    [
      { name: "flood", ratePerSecond: FLOOD_LOAD * hashRate, request: (n) => login((n % half) + 1, target.password, "10.66.0.1") },
      {
        name: "others",
        ratePerSecond: FLOOD_OTHERS_LOAD * hashRate,
        request: (n) => login(half + (n % half) + 1, target.password, `10.14.0.${(n % FLOOD_OTHER_ADDRESSES) + 1}`),
      },
      { name: "health", ratePerSecond: HEALTH_PROBES_PER_SECOND, request: () => ({ path: "/health" }) },
    ],
    target.durationMs,
  );
  return { hashRate, durationMs: target.durationMs, answers, peakRssBytes: memoryBytes(target.pid, "VmHWM") };
}

export async function runOverloadScenarios(target: OverloadTarget): Promise<OverloadRun> {
  await target.settle();
  const hall = await lectureHall(target);
  await target.settle();
  const peak = await campusPeak(target);
  await target.settle();
  const flooded = await flood(target);
  await target.settle();
  return { lectureHall: hall, campusPeak: peak, flood: flooded };
}
