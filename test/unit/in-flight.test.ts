import { describe, expect, test } from "bun:test";
import { InFlightRequests } from "../../src/http/plugin";

describe("InFlightRequests", () => {
  test("counts requests by identity and background work by number; a stray end changes nothing", async () => {
    const inFlight = new InFlightRequests();
    const first = new Request("http://localhost/a");
    const second = new Request("http://localhost/b");
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
