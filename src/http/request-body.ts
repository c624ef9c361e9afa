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
  const bytes = await readAtMost(request, MAX_BODY_BYTES);
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

/** Reads the body chunk by chunk and stops as soon as it exceeds `limit`: a huge body is never buffered. */
async function readAtMost(request: Request, limit: number): Promise<Uint8Array> {
  if (!request.body) return new Uint8Array();
  // With a Content-Length within the limit the HTTP layer delivers exactly that many bytes: read them
  // at once (a stream reader per request was a tenth of the CPU of a login turned away at capacity).
  const declared = request.headers.get("content-length");
  if (declared !== null && /^\d+$/.test(declared) && Number(declared) <= limit) return new Uint8Array(await request.arrayBuffer());
  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > limit) {
      await reader.cancel();
      throw payloadTooLarge();
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks);
}

const payloadTooLarge = () => new ApiError(413, "PAYLOAD_TOO_LARGE", `The request body must not exceed ${MAX_BODY_BYTES} bytes.`);
