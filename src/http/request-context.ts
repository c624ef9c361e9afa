import type { RequestContext } from "../auth/events";
import { clientAddress } from "./client-address";

const REQUEST_ID = /^[A-Za-z0-9._-]{1,128}$/;

interface RequestInfo {
  id: string;
  startedAt: number;
  /** Counted by InFlightRequests (from before-handle until the answer). */
  inFlight?: boolean;
}

// Keyed by the Request object itself: nothing to clean up, nothing shared between requests.
const requests = new WeakMap<Request, RequestInfo>();

/** Called first for every request: adopts a well-formed incoming X-Request-Id or makes a new one. */
export function beginRequest(request: Request): RequestInfo {
  const incoming = request.headers.get("x-request-id");
  const info: RequestInfo = {
    id: incoming && REQUEST_ID.test(incoming) ? incoming : crypto.randomUUID(),
    startedAt: performance.now(),
    inFlight: false,
  };
  requests.set(request, info);
  return info;
}

export function requestInfo(request: Request): RequestInfo | undefined {
  return requests.get(request);
}

type Server = { requestIP(request: Request): { address: string } | null } | null | undefined;

/**
 * The request id and client address that rules, logs and audit events refer to. The address is worked
 * out when first asked for (a `getpeername` and a header parse): most authenticated requests never do.
 */
export function requestContext(request: Request, server: Server, trustProxy: boolean): RequestContext {
  let address: string | undefined;
  return {
    reqId: requests.get(request)?.id ?? "",
    get clientAddress() {
      address ??= clientAddress(request, server?.requestIP(request)?.address, trustProxy);
      return address;
    },
  };
}
