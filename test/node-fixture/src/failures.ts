import type { HttpError, NetworkFailure, UnexpectedResponse } from "@classmatefinder/api";

/** One word for a failure of any kind: no response, not an answer of the API, or the API's error code. */
export function describeFailure(
  error: NetworkFailure | UnexpectedResponse | HttpError<number, { error: { code: string } }> | null,
): string {
  if (!error) return "no error";
  if (error.status === "network") return `network: ${error.cause.message}`;
  if (error.status === "unexpected") return `unexpected HTTP ${error.httpStatus}`;
  return `${error.status} ${error.value.error.code}`;
}
