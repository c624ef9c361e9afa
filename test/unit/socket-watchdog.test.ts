import { describe, expect, test } from "bun:test";
import { MessageCounter } from "../../src/db/socket-watchdog";

/** A PostgreSQL protocol message: type byte, 4-byte length (counting itself), body. */
const message = (type: string, body: number[] = []) => [type.charCodeAt(0), 0, 0, 0, body.length + 4, ...body];
const startup = [0, 0, 0, 9, 0, 3, 0, 0, 0]; // length 9, protocol 3.0, one byte of parameters
const isSyncOrQuery = (type: number) => type === 0x53 || type === 0x51;

describe("the watchdog's protocol message counter", () => {
  test("counts the answers due for what a client sends, however the bytes are split", () => {
    const bytes = Uint8Array.from([...startup, ...message("P", [1, 2, 3]), ...message("H"), ...message("S"), ...message("Q", [65, 0])]);
    for (const size of [1, 2, 3, 7, bytes.length]) {
      const counter = new MessageCounter(true, isSyncOrQuery);
      let counted = 0;
      for (let i = 0; i < bytes.length; i += size) counted += counter.feed(bytes.subarray(i, i + size));
      // The start-up message, the Sync and the simple query each get a ReadyForQuery; Parse and Flush do not.
      expect({ size, counted }).toEqual({ size, counted: 3 });
    }
  });

  test("counts ReadyForQuery among the server's messages", () => {
    const bytes = Uint8Array.from([
      ...message("R", [0, 0, 0, 0]),
      ...message("Z", [73]),
      ...message("D", [9, 9, 9, 90]),
      ...message("Z", [73]),
    ]);
    for (const size of [1, 4, bytes.length]) {
      const counter = new MessageCounter(false, (type) => type === 0x5a);
      let counted = 0;
      for (let i = 0; i < bytes.length; i += size) counted += counter.feed(bytes.subarray(i, i + size));
      expect(counted).toBe(2);
    }
  });
});
