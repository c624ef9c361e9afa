export type ErrorCode =
  | "VALIDATION_ERROR"
  | "EMAIL_DOMAIN_NOT_ALLOWED"
  | "EMAIL_TAKEN"
  | "USERNAME_TAKEN"
  | "INVALID_TOKEN"
  | "INVALID_CREDENTIALS"
  | "EMAIL_NOT_VERIFIED"
  | "INVALID_CURRENT_PASSWORD"
  | "UNAUTHORIZED"
  | "NOT_FOUND"
  | "PAYLOAD_TOO_LARGE"
  | "UNSUPPORTED_MEDIA_TYPE"
  | "RATE_LIMITED"
  | "SERVICE_BUSY"
  | "SERVICE_UNAVAILABLE"
  | "INTERNAL_ERROR";

export interface FieldProblem {
  field: string;
  message: string;
}

export interface ErrorBody {
  error: { code: ErrorCode; message: string; details?: FieldProblem[] };
}

/** An error that becomes the contract's error response: thrown by rules, rendered by the HTTP layer. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: ErrorCode,
    message: string,
    readonly details?: FieldProblem[],
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
    this.name = "ApiError";
  }

  toBody(): ErrorBody {
    return { error: { code: this.code, message: this.message, ...(this.details ? { details: this.details } : {}) } };
  }
}

export const validationError = (details: FieldProblem[]) => new ApiError(400, "VALIDATION_ERROR", "The request is not valid.", details);

/** The database cannot be reached (down, hanging, pool exhausted, not ready yet): nothing was done. */
export const serviceUnavailable = () =>
  new ApiError(503, "SERVICE_UNAVAILABLE", "The service cannot reach its database right now. Please try again in a moment.", undefined, {
    "Retry-After": "2",
  });
