import { describe, expect, test } from "bun:test";
import { InFlightRequests } from "../../src/http/plugin";

describe("InFlightRequests", () => {
  test("counts requests by their mark and background work by number; a stray end changes nothing", async () => {
    const inFlight = new InFlightRequests();
    const first = { inFlight: false };
    const second = { inFlight: false };
    inFlight.begin(first);
    inFlight.begin();
    inFlight.end(second); // never begun (an answer given before before-handle)
    expect(inFlight.count).toBe(2);
    inFlight.end(first);
    inFlight.end(first);
    expect(inFlight.count).toBe(1);
    let idle = false;
    const waiting = inFlight.idle().then(() => {
      idle = true;
    });
    await Bun.sleep(0);
    expect(idle).toBe(false);
    inFlight.end();
    await waiting;
    inFlight.end();
    expect(inFlight.count).toBe(0);
  });
});
