import { ApiError } from "./errors";

export const MAX_BODY_BYTES = 16 * 1024;

const isJsonType = (contentType: string) => /^application\/([a-z0-9.+-]*\+)?json\s*(;|$)/i.test(contentType);

/**
 * Reads a JSON request body under the contract's rules: at most 16 KiB (413), JSON content type (415),
 * valid JSON (400). An empty body reads as `{}`, so missing fields are reported one by one.
 */
export async function readJsonBody(request: Request): Promise<unknown> {
  const declared = Number(request.headers.get("content-length"));
  if (declared > MAX_BODY_BYTES) throw payloadTooLarge();
  const bytes = new Uint8Array(await request.arrayBuffer());
  if (bytes.byteLength > MAX_BODY_BYTES) throw payloadTooLarge();
  if (bytes.byteLength === 0) return {};
  const contentType = request.headers.get("content-type") ?? "";
  if (!isJsonType(contentType)) {
    throw new ApiError(415, "UNSUPPORTED_MEDIA_TYPE", "Send the request body as JSON with Content-Type: application/json.");
  }
  try {
    return JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch {
    throw new ApiError(400, "VALIDATION_ERROR", "The request body is not valid JSON.", [{ field: "body", message: "must be valid JSON" }]);
  }
}

const payloadTooLarge = () => new ApiError(413, "PAYLOAD_TOO_LARGE", `The request body must not exceed ${MAX_BODY_BYTES} bytes.`);
