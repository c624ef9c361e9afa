/**
 * The overload scenarios of `bun run bench` (issue 12), each against the isolated hash rate measured
 * on the service's CPU right before it and right after it (the mean: this machine's hash rate drifts by
 * several per cent from minute to minute, as much as the margins the targets leave; the arrival rates
 * are set from the measurement before):
 *  - lecture-hall burst: 150 registrations from 150 client addresses at once, then 150 logins at once
 *    (about 2 s of hashing on 2 cores at the native argon2id's rate, as 50 were at Bun.password's);
 *  - campus peak: logins arriving open-loop (Poisson) at 0.9 × the hash rate;
 *  - flood: 3 × the hash rate of logins from one address, ordinary logins from 40 others beside it,
 *    and /health probed throughout.
 * Client addresses are X-Forwarded-For entries: the service runs with TRUST_PROXY=true.
 */

import { openLoop, type TimedAnswer, timedRequest } from "./lib/open-loop";
import { memoryBytes, progress, resetPeakMemory } from "./lib/proc";

export const LECTURE_HALL_STUDENTS = 150;
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

/** The isolated hash rate before and after a scenario, and their mean (what its targets are judged by). */
export interface Measured {
  hashRate: number;
  hashRateBefore: number;
  hashRateAfter: number;
}

export interface LectureHallRun extends Measured {
  register: TimedAnswer[];
  login: TimedAnswer[];
}

export interface OpenLoopRun extends Measured {
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

const loginAs = (email: string, password: string, address: string) => ({
  path: "/api/auth/login",
  body: { email, password },
  headers: { "x-forwarded-for": address },
});
const login = (account: number, password: string, address: string) => loginAs(`bench${account}@mit.edu`, password, address);

async function lectureHall(target: OverloadTarget) {
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
  // The students who got their account: the flood's "others" log in as them.
  const accounts = students.filter((_, index) => register[index]?.status === 201).map((student) => student.email);
  return { register, login, accounts };
}

async function campusPeak(target: OverloadTarget, hashRate: number) {
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
  return { durationMs: target.durationMs, answers };
}

/**
 * The flood logs in to the seeded accounts from one address; the others are students, each with an
 * account and an address of their own (the lecture hall's): one student's two logins seldom wait at once.
 */
async function flood(target: OverloadTarget, hashRate: number, students: string[]) {
  progress(`${target.database}: flood (${(FLOOD_LOAD * hashRate).toFixed(1)} logins/s from one address, ${target.durationMs / 1000} s)`);
  if (students.length === 0) throw new Error("flood: the lecture hall registered no account for the others to log in to");
  const others = Math.min(FLOOD_OTHER_ADDRESSES, students.length);
  resetPeakMemory(target.pid);
  const answers = await openLoop(
    target.baseUrl,
    [
      {
        name: "flood",
        ratePerSecond: FLOOD_LOAD * hashRate,
        request: (n) => login((n % target.seededAccounts) + 1, target.password, "10.66.0.1"),
      },
      {
        name: "others",
        ratePerSecond: FLOOD_OTHERS_LOAD * hashRate,
        request: (n) => loginAs(students[n % others] as string, target.password, `10.14.0.${(n % others) + 1}`),
      },
      { name: "health", ratePerSecond: HEALTH_PROBES_PER_SECOND, request: () => ({ path: "/health" }) },
    ],
    target.durationMs,
  );
  return { durationMs: target.durationMs, answers, peakRssBytes: memoryBytes(target.pid, "VmHWM") };
}

/** Runs a scenario between two measurements of the isolated hash rate. */
async function bracketed<T>(target: OverloadTarget, scenario: (hashRateBefore: number) => Promise<T>): Promise<T & Measured> {
  const hashRateBefore = await target.measureHashRate();
  const result = await scenario(hashRateBefore);
  await target.settle();
  const hashRateAfter = await target.measureHashRate();
  return { ...result, hashRate: (hashRateBefore + hashRateAfter) / 2, hashRateBefore, hashRateAfter };
}

export async function runOverloadScenarios(target: OverloadTarget): Promise<OverloadRun> {
  await target.settle();
  const hall = await bracketed(target, () => lectureHall(target));
  await target.settle();
  const peak = await bracketed(target, (rate) => campusPeak(target, rate));
  await target.settle();
  const flooded = await bracketed(target, (rate) => flood(target, rate, hall.accounts));
  await target.settle();
  return { lectureHall: hall, campusPeak: peak, flood: flooded };
}
