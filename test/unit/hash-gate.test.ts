import { describe, expect, test } from "bun:test";
import { type BusyReason, HashGate, HashGateBusyError, type HashGateOptions } from "../../src/hashing/hash-gate";
import { clientOf } from "../../src/http/client-address";

/** Lets every pending promise callback run (no timers, no waiting on the clock). */
const settle = () => new Promise((resolve) => setImmediate(resolve));

/**
 * A gate on a manual clock with hashes the test finishes by hand: `hash()` advances the clock by the
 * hash's duration and finishes the oldest running job, so "time" is whatever the test says it is.
 */
function harness(options: Partial<HashGateOptions> = {}) {
  let time = 0;
  const rejected: BusyReason[] = [];
  const gate = new HashGate({
    concurrency: 1,
    queueTimeoutMs: 3_000,
    overloadWaitMs: 200,
    initialHashMs: 100,
    now: () => time,
    onRejected: (reason) => rejected.push(reason),
    ...options,
  });
  const running: { client: string; finish: () => void }[] = [];
  const started: string[] = [];

  function submit(client: string, account?: string) {
    const request: { client: string; outcome?: "served" | HashGateBusyError } = { client };
    gate
      .run({ client, account }, () => {
        started.push(client);
        return new Promise<void>((finish) => running.push({ client, finish }));
      })
      .then(
        () => {
          request.outcome = "served";
        },
        (error: HashGateBusyError) => {
          request.outcome = error;
        },
      );
    return request;
  }

  return {
    gate,
    rejected,
    started,
    submit,
    /** Arrivals settle: admitted ones start or wait, turned-away ones get their error. */
    settle,
    advance(ms: number) {
      time += ms;
    },
    /** `ms` pass while the oldest running hash completes. */
    async hash(ms = 100) {
      time += ms;
      running.shift()?.finish();
      await settle();
      await settle(); // the finished job's caller resumes once the next in line has started
    },
    get now() {
      return time;
    },
  };
}

const busy = (request: { outcome?: unknown }) => request.outcome instanceof HashGateBusyError;

/** Six seconds of a flood at 3 × the hash rate from one address: the gate sheds it as sustained overload. */
async function floodUntilOverloaded(h: ReturnType<typeof harness>) {
  for (let step = 0; step < 60; step++) {
    for (let arrival = 0; arrival < 3; arrival++) h.submit("flood");
    await h.settle();
    await h.hash(100);
  }
  expect(h.gate.status.overloaded).toBe(true);
}

describe("HashGate: bursts are queued and served", () => {
  test("a burst that the slots work off within the queue timeout is served in full, in arrival order", async () => {
    const h = harness(); // 100 ms per hash, one slot: 3 s of queue holds 30
    const burst = Array.from({ length: 31 }, (_, index) => h.submit(`10.0.0.${index}`));
    await h.settle();
    expect(h.gate.load).toEqual({ running: 1, waiting: 30 });
    expect(burst.filter(busy)).toEqual([]);
    for (let step = 0; step < 31; step++) {
      expect(h.gate.status.overloaded).toBe(false); // a burst passing through is not overload
      await h.hash(100);
    }
    expect(burst.every((request) => request.outcome === "served")).toBe(true);
    expect(h.started).toEqual(burst.map((request) => request.client));
    expect(h.rejected).toEqual([]);
    expect(h.gate.load).toEqual({ running: 0, waiting: 0 });
  });

  test("the queue's length follows the measured hash time and the slots", async () => {
    const h = harness({ concurrency: 2, initialHashMs: 40 });
    expect(h.gate.status.limit).toBe(150); // 3 s × 2 slots ÷ 40 ms
    const first = [h.submit("a"), h.submit("b")];
    await h.settle();
    await h.hash(200); // hashes turn out to take 200 ms
    expect(h.gate.status.hashSeconds).toBeCloseTo(0.2);
    expect(h.gate.status.limit).toBe(30);
    expect(first.map((request) => request.outcome)).toEqual(["served", undefined]);
  });

  test("calibration measures one hash as the first estimate, and real hashes take over", async () => {
    const h = harness({ initialHashMs: 100 });
    await h.gate.calibrate(async () => h.advance(25));
    expect(h.gate.status.hashSeconds).toBeCloseTo(0.025);
    expect(h.gate.status.limit).toBe(120);
    h.submit("a");
    await h.settle();
    await h.hash(125);
    expect(h.gate.status.hashSeconds).toBeCloseTo(0.025 + 0.2 * 0.1);
    // Once real hashes have been timed, a late calibration changes nothing.
    await h.gate.calibrate(async () => h.advance(5_000));
    expect(h.gate.status.hashSeconds).toBeCloseTo(0.045);
  });

  test("hash times measured under load are forgotten after a second of idleness: the next burst is sized by the idle hash time", async () => {
    const h = harness(); // 100 ms per hash when alone
    h.submit("warm-up");
    await h.settle();
    await h.hash(100);
    for (let index = 0; index < 12; index++) h.submit(`10.6.0.${index}`);
    await h.settle();
    while (h.gate.load.waiting > 0) await h.hash(300); // other traffic on the core: 300 ms each
    expect(h.gate.status.limit).toBeLessThan(15);
    await h.hash(100); // the traffic has gone: the last one, alone, takes what a hash takes
    h.advance(1_000);
    const burst = Array.from({ length: 31 }, (_, index) => h.submit(`10.7.0.${index}`));
    await h.settle();
    expect(burst.filter(busy)).toEqual([]);
    expect(h.gate.status.limit).toBe(30);
  });

  test("a slow first hash (a cold start) does not size later bursts: a quicker hash under load corrects the idle estimate", async () => {
    const h = harness(); // 3 s of queue, one slot
    h.submit("first");
    await h.settle();
    await h.hash(600); // the process's first hash: its memory allocated, statements prepared
    for (let index = 0; index < 12; index++) h.submit(`10.6.0.${index}`);
    await h.settle();
    while (h.gate.load.running > 0) await h.hash(100); // never alone, each 100 ms
    h.advance(1_000);
    const burst = Array.from({ length: 31 }, (_, index) => h.submit(`10.7.0.${index}`));
    await h.settle();
    expect(burst.filter(busy)).toEqual([]);
    expect(h.gate.status.limit).toBe(30);
  });

  test("a job turned away before its hash (it threw) does not count as a hash time", async () => {
    const h = harness();
    await h.gate.calibrate(async () => h.advance(100));
    const quick = h.gate.run({ client: "a" }, async () => {
      h.advance(2);
      throw new Error("429");
    });
    await expect(quick).rejects.toThrow("429");
    h.advance(1_000);
    const burst = Array.from({ length: 31 }, (_, index) => h.submit(`10.7.0.${index}`));
    await h.settle();
    expect(h.gate.status.limit).toBe(30); // still 100 ms a hash, not 2
    expect(burst.filter(busy)).toEqual([]);
  });

  test("calibration keeps the quicker of two hashes: a process's first one is cold", async () => {
    const h = harness();
    let round = 0;
    await h.gate.calibrate(async () => h.advance(round++ === 0 ? 400 : 100));
    expect(h.gate.status.hashSeconds).toBeCloseTo(0.1);
  });

  test("a failing job frees its slot", async () => {
    const gate = new HashGate({ concurrency: 1, queueTimeoutMs: 1000, overloadWaitMs: 100, initialHashMs: 10 });
    await expect(gate.run({ client: "a" }, () => Promise.reject(new Error("boom")))).rejects.toThrow("boom");
    expect(await gate.run({ client: "a" }, async () => 1)).toBe(1);
    expect(gate.load).toEqual({ running: 0, waiting: 0 });
  });
});

describe("HashGate: the slot is handed over before the caller goes on", () => {
  test("the next in line starts its work before the finished job's caller resumes (the hashing thread is not left idle)", async () => {
    const gate = new HashGate({ concurrency: 1, queueTimeoutMs: 3_000, overloadWaitMs: 200, initialHashMs: 100 });
    const order: string[] = [];
    let finishFirst = () => {};
    const first = gate
      .run({ client: "a" }, () => new Promise<void>((finish) => (finishFirst = finish)))
      .then(() => order.push("first's caller resumes"));
    const second = gate.run({ client: "b" }, async () => {
      order.push("second starts");
      await Promise.resolve(); // a statement or two before its hash
      order.push("second reaches its hash");
    });
    await settle();
    finishFirst();
    await Promise.all([first, second]);
    expect(order).toEqual(["second starts", "second reaches its hash", "first's caller resumes"]);
  });
});

describe("HashGate: sustained overload is shed", () => {
  test("arrivals at 3 × the hash rate: once the queue has stood for the timeout, it is cut to the overload wait and the excess is turned away at once", async () => {
    const h = harness(); // 10 hashes/s; the flood sends 30/s
    const requests: ReturnType<typeof h.submit>[] = [];
    let servedPerStep = 0;
    for (let step = 0; step < 100; step++) {
      for (let arrival = 0; arrival < 3; arrival++) requests.push(h.submit("flood"));
      await h.settle();
      const before = h.started.length;
      await h.hash(100);
      servedPerStep += h.started.length - before;
    }
    // Goodput: the slot never idled, one hash per step.
    expect(servedPerStep).toBe(100);
    expect(h.gate.status.overloaded).toBe(true);
    // Held to 200 ms of waiting: 2 requests at 100 ms each.
    expect(h.gate.status.limit).toBe(2);
    expect(h.gate.load.waiting).toBeLessThanOrEqual(2);
    expect(h.rejected).toContain("queue_full"); // before the queue had stood long enough
    expect(h.rejected).toContain("overload");
    // Every turned-away request got its answer at once, with a Retry-After from the queue.
    const turnedAway = requests.filter(busy).map((request) => request.outcome as HashGateBusyError);
    expect(turnedAway.length).toBe(h.rejected.length);
    expect(turnedAway.at(-1)?.retryAfterSeconds).toBe(1); // (2 waiting + 1 running) × 100 ms
    // The first: 27 waiting (the last 3 places are kept for other sources) and 1 running, 100 ms each.
    expect(turnedAway.find((error) => error.reason === "queue_full")?.retryAfterSeconds).toBe(3);
    expect(requests.filter((request) => request.outcome === undefined).length).toBeLessThanOrEqual(3);
    // Another source is still let in (and served round-robin), without pushing anyone out.
    const student = h.submit("student");
    await h.settle();
    expect(busy(student)).toBe(false);
    expect(h.rejected).not.toContain("fair_share");

    // The flood stops: the queue empties; once it has turned nobody away for the timeout (3 s), the
    // next burst is queued in full again.
    while (h.gate.load.running > 0) await h.hash(100);
    expect(h.gate.status.overloaded).toBe(true);
    h.advance(3_000);
    expect(h.gate.status.overloaded).toBe(false);
    const burst = Array.from({ length: 25 }, (_, index) => h.submit(`10.1.0.${index}`));
    await h.settle();
    expect(burst.filter(busy)).toEqual([]);
  });

  test("a second with nothing to hash ends the overload: a lecture hall right after a flood is queued in full", async () => {
    const h = harness();
    await floodUntilOverloaded(h);
    while (h.gate.load.running > 0) await h.hash(100); // the flood stops; its last requests are served
    h.advance(999);
    expect(h.gate.status.overloaded).toBe(true); // not yet a whole second idle
    h.advance(1);
    expect(h.gate.status.overloaded).toBe(false);
    const hall = Array.from({ length: 25 }, (_, index) => h.submit(`10.12.0.${index}`));
    await h.settle();
    expect(hall.filter(busy)).toEqual([]);
  });

  test("hash times that vary (so the queue's length does) still leave a flood detected and shed", async () => {
    const h = harness();
    for (let step = 0; step < 100; step++) {
      for (let arrival = 0; arrival < 3; arrival++) h.submit("flood");
      await h.settle();
      await h.hash([60, 140, 90, 110][step % 4]);
    }
    expect(h.gate.status.overloaded).toBe(true);
    expect(h.gate.load.waiting).toBeLessThanOrEqual(3);
  });

  test("arrivals just below the hash rate never shed, even when the queue is long for a while", async () => {
    const h = harness();
    const requests = Array.from({ length: 20 }, (_, index) => h.submit(`10.2.0.${index}`)); // a burst first
    await h.settle();
    for (let step = 0; step < 300; step++) {
      if (step % 10 !== 9) requests.push(h.submit(`10.3.${step % 7}.1`)); // then 9 per 10 hashes
      await h.settle();
      await h.hash(100);
    }
    expect(requests.filter(busy)).toEqual([]);
    expect(h.gate.status.overloaded).toBe(false);
  });
});

describe("HashGate: one source cannot starve another", () => {
  test("a flood from one client address leaves the last places to others, is pushed out of a full queue by them, and they are served next", async () => {
    const h = harness(); // 30 may wait; the last 3 places are kept for sources other than the flood
    const flood = Array.from({ length: 40 }, () => h.submit("flood"));
    await h.settle();
    expect(flood.filter(busy).length).toBe(12); // 1 running, 27 waiting
    expect(h.rejected.every((reason) => reason === "queue_full")).toBe(true);
    const students = Array.from({ length: 4 }, (_, index) => h.submit(`student${index}`));
    await h.settle();
    // Three take the kept places; the fourth finds the queue full and takes the flood's newest place.
    expect(students.filter(busy)).toEqual([]);
    expect(h.rejected.at(-1)).toBe("fair_share");
    expect(flood.filter(busy).length).toBe(13);
    await h.hash();
    await h.hash();
    expect(h.started.at(-1)).toBe("student0"); // its turn came after at most one more of the flood's
    await h.hash();
    expect(students[0]?.outcome).toBe("served");
    // The flood cannot push out its own requests, nor take the kept places.
    const more = h.submit("flood");
    await h.settle();
    expect(busy(more)).toBe(true);
    expect(h.rejected.at(-1)).toBe("queue_full");
  });

  test("under sustained overload, students with nothing in the gate still get in beside a flood, several at once", async () => {
    const h = harness(); // overloaded: 2 may wait at 100 ms per hash
    await floodUntilOverloaded(h);
    const students: ReturnType<typeof h.submit>[] = [];
    const flood: ReturnType<typeof h.submit>[] = [];
    for (let step = 0; step < 100; step++) {
      for (let arrival = 0; arrival < 3; arrival++) flood.push(h.submit("flood"));
      // Three students at once, and one more a hash later: the short line holds one of the flood's and two of theirs.
      if (step % 6 === 0) for (const n of [1, 2, 3]) students.push(h.submit(`10.5.${step}.${n}`, `s${step}_${n}@x.edu`));
      if (step % 6 === 1) students.push(h.submit(`10.5.${step}.4`, `s${step}_4@x.edu`));
      await h.settle();
      await h.hash(100);
      expect(h.gate.load.waiting).toBeLessThanOrEqual(5); // still a short line
    }
    expect(students.filter(busy)).toEqual([]);
    expect(flood.filter(busy).length).toBeGreaterThan(150); // the flood is still shed
    expect(h.gate.status.overloaded).toBe(true);
  });

  test("a flood rotating through the addresses of one IPv6 /64 is one client (clientOf): students beside it still get in", async () => {
    const h = harness();
    let next = 0;
    // Every request of the flood from another address of its /64, as the HTTP layer names its client.
    const fromTheFlood = () => h.submit(clientOf(`2001:db8:bad:1:${(next++ % 65536).toString(16)}::${(next * 7).toString(16)}`));
    for (let step = 0; step < 60; step++) {
      for (let arrival = 0; arrival < 3; arrival++) fromTheFlood();
      await h.settle();
      await h.hash(100);
    }
    expect(h.gate.status.overloaded).toBe(true);
    const students: ReturnType<typeof h.submit>[] = [];
    for (let step = 0; step < 60; step++) {
      for (let arrival = 0; arrival < 3; arrival++) fromTheFlood();
      if (step % 6 === 0) students.push(h.submit(clientOf(`2001:db8:${step}:2::1`), `s${step}@x.edu`));
      await h.settle();
      await h.hash(100);
    }
    expect(students.filter(busy)).toEqual([]);
    expect(students.every((student) => student.outcome === "served")).toBe(true);
  });

  test("a burst from many addresses, one request each, may use every place", async () => {
    const h = harness();
    const burst = Array.from({ length: 32 }, (_, index) => h.submit(`10.8.0.${index}`));
    await h.settle();
    expect(burst.map(busy).filter(Boolean)).toEqual([true]); // 1 running, all 30 places, 1 too many
  });

  test("one account flooded from many addresses cannot take the queue from other accounts", async () => {
    const h = harness();
    const attack = Array.from({ length: 31 }, (_, index) => h.submit(`10.4.0.${index}`, "victim@ualberta.ca"));
    await h.settle();
    expect(attack.filter(busy).length).toBe(3); // 1 running, 27 waiting: the account is the heaviest source
    const student = h.submit("10.5.0.1", "student@ualberta.ca");
    await h.settle();
    expect(busy(student)).toBe(false);
    expect(h.rejected).toEqual(["queue_full", "queue_full", "queue_full"]);
  });

  test("while others wait, one client address gets at most a quarter of the slots", async () => {
    const h = harness({ concurrency: 4 });
    for (let index = 0; index < 8; index++) h.submit("flood");
    await h.settle();
    expect(h.started).toEqual(["flood", "flood", "flood", "flood"]);
    h.submit("student");
    await h.settle();
    await h.hash();
    expect(h.started.at(-1)).toBe("student"); // the flood still runs 3 of 4: it is skipped
    await h.hash();
    expect(h.started.at(-1)).toBe("flood"); // nobody else waits: no slot stays idle
  });
});

describe("HashGate: a request turned away before its body is read", () => {
  test("refuseEarly turns a client away only where admission would have, whatever its account: two gates, one asked first, decide every arrival alike", async () => {
    // The same arrivals (a flood at 3 × the hash rate from one address, at times several accounts from
    // it, and students) to two gates: one asked refuseEarly(client) before each arrival, which then
    // does not arrive when refused; one not asked.
    const early = harness();
    const plain = harness();
    let seed = 12345;
    const random = () => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    const outcomes: { early: ReturnType<typeof early.submit> | "refused early"; plain: ReturnType<typeof plain.submit> }[] = [];
    let refusedEarly = 0;
    for (let step = 0; step < 300; step++) {
      const arrivals: [string, string | undefined][] = [];
      for (let n = 0; n < 3; n++) arrivals.push(["flood", random() < 0.3 ? `victim${n}@x.edu` : undefined]);
      // A student, at times pressing twice.
      if (random() < 0.2) for (let n = random() < 0.5 ? 1 : 2; n > 0; n--) arrivals.push([`10.5.${step}.1`, `s${step}@x.edu`]);
      if (random() < 0.05) for (let n = 0; n < 5; n++) arrivals.push([`10.6.${step}.${n}`, "shared@x.edu"]);
      for (const [client, account] of arrivals) {
        const refused = early.gate.refuseEarly(client);
        if (refused) refusedEarly++;
        outcomes.push({ early: refused ? "refused early" : early.submit(client, account), plain: plain.submit(client, account) });
      }
      await early.settle();
      await plain.settle();
      const ms = 60 + Math.floor(random() * 80);
      await early.hash(ms);
      await plain.hash(ms);
    }
    expect(refusedEarly).toBeGreaterThan(300);
    expect(outcomes.map(({ early }) => early === "refused early" || busy(early))).toEqual(outcomes.map(({ plain }) => busy(plain)));
    expect(early.started).toEqual(plain.started);
    expect(early.rejected).toEqual(plain.rejected);
    expect(early.gate.status).toEqual(plain.gate.status);
  });

  test("a client with nothing waiting, a queue with room, or a client far lighter than the heaviest is never refused early", async () => {
    const h = harness(); // 30 may wait
    expect(h.gate.refuseEarly("flood")).toBeNull(); // idle
    const flood = Array.from({ length: 20 }, () => h.submit("flood"));
    await h.settle();
    expect(h.gate.refuseEarly("flood")).toBeNull(); // 19 waiting: room left
    flood.push(...Array.from({ length: 8 }, () => h.submit("flood")));
    await h.settle();
    const refused = h.gate.refuseEarly("flood"); // 27 waiting: the places left are kept for others
    expect(refused).toBeInstanceOf(HashGateBusyError);
    expect(refused?.retryAfterSeconds).toBe(3);
    expect(h.rejected).toEqual(["queue_full"]);
    expect(h.gate.refuseEarly("10.5.0.1")).toBeNull(); // a student: admission decides
    h.submit("10.5.0.1");
    await h.settle();
    // Waiting, but far from the heaviest: its second request may still take one of the flood's places.
    expect(h.gate.refuseEarly("10.5.0.1")).toBeNull();
  });
});
