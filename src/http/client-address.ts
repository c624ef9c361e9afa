import { isIPv4, isIPv6 } from "node:net";

/**
 * The client's address: the socket peer, or with TRUST_PROXY the rightmost X-Forwarded-For entry, the
 * one our own proxy appended (entries to its left come from the client and can be forged). Returned as
 * the client it identifies (clientOf).
 */
export function clientAddress(request: Request, socketAddress: string | undefined, trustProxy: boolean): string {
  if (trustProxy) {
    const forwarded = request.headers.get("x-forwarded-for");
    const last = forwarded?.split(",").at(-1)?.trim();
    if (last) return clientOf(last);
  }
  return socketAddress ? clientOf(socketAddress) : "unknown";
}

/**
 * The client an address identifies, for every per-client limit and the fairness of password hashing:
 * an IPv4 address is itself; an IPv6 address is its /64 (one subscriber, one LAN: its owner has all of
 * it and may use a new address for every request), written `2001:db8:1:2::/64`; an IPv4-mapped IPv6
 * address is its IPv4 address. Anything else (a proxy's odd entry) is kept as it is.
 */
export function clientOf(address: string): string {
  const unbracketed = address.replace(/^\[(.*)\]$/, "$1").replace(/%.*$/, "");
  if (isIPv4(unbracketed)) return unbracketed;
  if (!isIPv6(unbracketed)) return address;
  const hextets = expandIPv6(unbracketed);
  const ipv4Mapped = hextets.slice(0, 5).every((h) => h === 0) && hextets[5] === 0xffff;
  if (ipv4Mapped) return [hextets[6] ?? 0, hextets[7] ?? 0].flatMap((h) => [h >> 8, h & 0xff]).join(".");
  return `${hextets
    .slice(0, 4)
    .map((h) => h.toString(16))
    .join(":")}::/64`;
}

/** The eight 16-bit groups of a valid IPv6 address (`::` expanded, a trailing dotted quad converted). */
function expandIPv6(address: string): number[] {
  let text = address.toLowerCase();
  const quad = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (quad) {
    const [a, b, c, d] = quad.slice(1).map(Number) as [number, number, number, number];
    text = `${text.slice(0, quad.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head = "", tail] = text.split("::");
  const parts = (part: string) => (part ? part.split(":").map((h) => Number.parseInt(h, 16)) : []);
  const left = parts(head);
  const right = tail === undefined ? [] : parts(tail);
  return [...left, ...new Array(8 - left.length - right.length).fill(0), ...right];
}
