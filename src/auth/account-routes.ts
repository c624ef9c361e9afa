import { Elysia, t } from "elysia";
import { requestContext } from "../http/request-context";
import { deleteOwnAccount, logoutEverywhere, updateProfile } from "./account";
import type { AuthDeps } from "./core";
import { bearer, bodyErrors, shapeOf } from "./routes";
import { BusyOrUnavailable, DeleteAccountBody, errorResponse, ProfileBody, RateLimited, Unauthorized, UserResult } from "./schemas";
import { authenticate } from "./sessions";

const shapes = { profile: shapeOf(ProfileBody), deletion: shapeOf(DeleteAccountBody) };

/** The account after sign-up (account.ts): PATCH and DELETE /api/auth/me, POST /api/auth/logout-all. */
export function accountRoutes(auth: AuthDeps, options: { trustProxy: boolean }) {
  return new Elysia({ prefix: "/api/auth", tags: ["auth"] })
    .derive(({ request, server }) => ({ context: requestContext(request, server, options.trustProxy) }))
    .patch(
      "/me",
      async ({ body, headers, context }) => {
        const { user } = await authenticate(auth, context, headers.authorization);
        return { user: await updateProfile(auth, context, user, body) };
      },
      {
        body: ProfileBody,
        parse: "json",
        transform: ({ body }) => shapes.profile(body),
        response: { 200: UserResult, ...bodyErrors, 401: Unauthorized, 409: errorResponse(["USERNAME_TAKEN"]) },
        detail: {
          operationId: "updateMe",
          summary: "Change the username or names (logged in)",
          security: bearer,
          description:
            "Any of username, firstName, lastName, by registration's rules (every invalid field reported at once); fields left out stay as they are, a blank or null lastName is stored as null. 409 USERNAME_TAKEN when another registration, pending or verified, holds the username (case-insensitively). The email address cannot be changed.",
        },
      },
    )
    .post(
      "/logout-all",
      async ({ headers, context, status }) => {
        const { user } = await authenticate(auth, context, headers.authorization);
        await logoutEverywhere(auth, context, user);
        return status(204, undefined);
      },
      {
        response: {
          204: t.Void({ description: "Every token of the account, this one included, is rejected from now on" }),
          ...bodyErrors,
          401: Unauthorized,
        },
        detail: {
          operationId: "logoutAll",
          summary: "Log out of every device",
          security: bearer,
          description:
            "Every JWT of the account, the presented one included, is rejected from now on (401). Takes no body. Errors: 401 UNAUTHORIZED.",
        },
      },
    )
    .delete(
      "/me",
      async ({ body, headers, context, status }) => {
        const { user } = await authenticate(auth, context, headers.authorization);
        await deleteOwnAccount(auth, context, user, body.password);
        return status(204, undefined);
      },
      {
        body: DeleteAccountBody,
        parse: "json",
        transform: ({ body }) => shapes.deletion(body),
        response: {
          204: t.Void({ description: "Deleted, with everything that refers to it" }),
          ...bodyErrors,
          400: errorResponse(["INVALID_CURRENT_PASSWORD", "VALIDATION_ERROR"]),
          401: Unauthorized,
          429: RateLimited,
          503: BusyOrUnavailable,
        },
        detail: {
          operationId: "deleteMe",
          summary: "Delete the account (logged in, with the password)",
          security: bearer,
          description:
            "Deletes the account and everything that refers to it (its tokens, links, queued emails and failed-login counter) in one transaction; the address and the username are free again, and every JWT of the account gets 401. 400 INVALID_CURRENT_PASSWORD for a wrong password, which counts as a failed login of the address: past the limit, 429 RATE_LIMITED with Retry-After. 503 SERVICE_BUSY with Retry-After under sustained overload of password checking.",
        },
      },
    );
}
