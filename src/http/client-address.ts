/**
 * The client's address: the socket peer, or with TRUST_PROXY the rightmost X-Forwarded-For entry, the
 * one our own proxy appended (entries to its left come from the client and can be forged).
 */
export function clientAddress(request: Request, socketAddress: string | undefined, trustProxy: boolean): string {
  if (trustProxy) {
    const forwarded = request.headers.get("x-forwarded-for");
    const last = forwarded?.split(",").at(-1)?.trim();
    if (last) return last;
  }
  return socketAddress ?? "unknown";
}
