/**
 * What waking the event loop costs on this machine: the main thread's CPU for one wake from idle
 * (Bun.sleep), and for a fixed piece of JavaScript run back-to-back against right after such a wake.
 * A login wakes the service's loop about four times (the request, PostgreSQL's answer, the hash's
 * completion, the second statement's answer: `strace -c -p PID` during a closed loop of logins),
 * each time from idle when the core is busy hashing. Run pinned, as the service is in `bun run bench`:
 *   taskset -c 0 bun test/bench/wake-cost.ts [wakes=200]
 * Prints one JSON line; CPU from /proc/self/task/<main>/schedstat (on-CPU ns of the main thread).
 */

const SLEEP_MS = 5;
/** A unit of request-like work: parse and serialise a small JSON body. */
const BODY = JSON.stringify({ email: "bench1@mit.edu", password: "Bench-Pass-2026!", firstName: "Bench", lastName: null });
const UNITS = 100;

const schedstat = `/proc/self/task/${process.pid}/schedstat`;
const mainThreadMs = async () => Number((await Bun.file(schedstat).text()).split(" ")[0]) / 1e6;

let sink = 0;
function work(): void {
  for (let unit = 0; unit < UNITS; unit += 1) sink += JSON.stringify(JSON.parse(BODY)).length;
}

/** Main-thread CPU in µs per iteration of `iteration`, run `wakes` times. */
async function microsPer(wakes: number, iteration: () => Promise<void>): Promise<number> {
  const start = await mainThreadMs();
  for (let n = 0; n < wakes; n += 1) await iteration();
  return Math.round(((await mainThreadMs()) - start) * (1000 / wakes));
}

/** Main-thread CPU, in µs: one wake from idle, the unit of work back-to-back, and the same work right after a wake. */
export async function wakeCost(wakes: number) {
  for (let n = 0; n < 2_000; n += 1) work(); // past the JIT's tiers
  const idleWakeMicros = await microsPer(wakes, () => Bun.sleep(SLEEP_MS));
  const workMicros = await microsPer(wakes, async () => work());
  const wakeAndWorkMicros = await microsPer(wakes, async () => {
    await Bun.sleep(SLEEP_MS);
    work();
  });
  return { wakes, idleWakeMicros, workMicros, workAfterWakeMicros: wakeAndWorkMicros - idleWakeMicros, checksum: sink > 0 };
}

if (import.meta.main) console.log(JSON.stringify(await wakeCost(Number(process.argv[2] ?? "200"))));
