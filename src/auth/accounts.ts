import { and, eq, isNull, ne, sql } from "drizzle-orm";
import { isUniqueViolation } from "../db/database";
import { cancelPendingEmails } from "../mail/outbox";
import type { EmailKind } from "../mail/types";
import { emailDomain, isAllowedDomain, normalizeEmail } from "./email";
import { consumeEmailToken, issueEmailToken } from "./email-tokens";
import { AuthError } from "./errors";
import type { RequestContext } from "./events";
import { parseEmailField, parseRegistration, type RegistrationInput } from "./input";
import { AuthRules } from "./rules";
import { type PublicUser, toPublicUser, type UserRow } from "./users";

/**
 * Accounts: registration, email verification and its resending. An address is taken only by a verified
 * account: registering an address whose account is still pending replaces that account (so nobody can
 * pre-register a student's address with a password of their own and have it activated later).
 */
export class Accounts extends AuthRules {
  async register(context: RequestContext, body: Parameters<typeof parseRegistration>[0]): Promise<PublicUser> {
    try {
      const user = await this.createAccount(context, body);
      this.emit(context, { event: "registration", outcome: "success", userId: user.id, email: user.email });
      return user;
    } catch (error) {
      if (error instanceof AuthError) {
        this.emit(context, {
          event: "registration",
          outcome: "failure",
          reason: error.code.toLowerCase(),
          email: typeof body.email === "string" ? normalizeEmail(body.email) : undefined,
        });
      }
      throw error;
    }
  }

  /** EMAIL_TAKEN only for a verified account; a username is held by every other account, pending or not. */
  private async conflictFor(email: string, username: string): Promise<AuthError | null> {
    const { users } = this.tables;
    const db = this.deps.database.db;
    const [byEmail] = await db.select({ verifiedAt: users.emailVerifiedAt }).from(users).where(eq(users.email, email));
    if (byEmail?.verifiedAt) return new AuthError("EMAIL_TAKEN");
    const [byName] = await db
      .select({ id: users.id })
      .from(users)
      .where(and(eq(sql`lower(${users.username})`, username.toLowerCase()), ne(users.email, email)));
    return byName ? new AuthError("USERNAME_TAKEN") : null;
  }

  private async createAccount(context: RequestContext, body: Parameters<typeof parseRegistration>[0]): Promise<PublicUser> {
    const input = parseRegistration(body);
    if (!isAllowedDomain(emailDomain(input.email), this.deps.config.universityDomains)) {
      throw new AuthError("EMAIL_DOMAIN_NOT_ALLOWED", { fields: [{ field: "email", message: "must be a university email address" }] });
    }
    const passwordHash = await this.withHashSlot(context, input.email, async () => {
      const conflict = await this.conflictFor(input.email, input.username);
      if (conflict) throw conflict;
      return this.deps.hasher.hash(input.password);
    });
    const now = this.deps.clock.now();
    const user: UserRow = {
      id: crypto.randomUUID(),
      email: input.email,
      username: input.username,
      passwordHash,
      firstName: input.firstName,
      lastName: input.lastName,
      emailVerifiedAt: null,
      tokenVersion: 0,
      createdAt: now,
      updatedAt: now,
    };
    // A concurrent registration of the same address may win the insert: then it is the pending account
    // to replace, once.
    for (let attempt = 0; ; attempt++) {
      try {
        if (await this.insertReplacingPending(user, input)) this.deps.onEmailQueued();
        return toPublicUser(user);
      } catch (error) {
        if (!isUniqueViolation(error)) throw error;
        const conflict = await this.conflictFor(input.email, input.username);
        if (conflict || attempt > 0) throw conflict ?? new AuthError("EMAIL_TAKEN");
      }
    }
  }

  /** Inserts the account, replacing a pending one of the same address; returns whether an email was queued. */
  private insertReplacingPending(user: UserRow, input: RegistrationInput): Promise<boolean> {
    const { database } = this.deps;
    const { users } = this.tables;
    return database.transaction(async (tx) => {
      const [existing] = await tx
        .select({ id: users.id, verifiedAt: users.emailVerifiedAt })
        .from(users)
        .where(eq(users.email, input.email));
      if (existing?.verifiedAt) throw new AuthError("EMAIL_TAKEN");
      if (existing) {
        // Its password, names, username and links die with it (its tokens cascade); its emails stay
        // counted against the address's verification email limit.
        await cancelPendingEmails(tx, database, existing.id);
        const [gone] = await tx
          .delete(users)
          .where(and(eq(users.id, existing.id), isNull(users.emailVerifiedAt)))
          .returning({ id: users.id });
        if (!gone) throw new AuthError("EMAIL_TAKEN");
      }
      await tx.insert(users).values(user);
      return issueEmailToken(tx, database, this.deps.config, this.deps.keys, user, "verify_email", user.createdAt);
    });
  }

  async verifyEmail(context: RequestContext, token: string): Promise<PublicUser> {
    try {
      const user = await this.consumeVerificationToken(token);
      this.emit(context, {
        event: "email_verification",
        outcome: "success",
        userId: user.id,
        email: user.email,
        registeredAt: user.createdAt,
      });
      return user;
    } catch (error) {
      if (error instanceof AuthError) this.emit(context, { event: "email_verification", outcome: "failure", reason: "invalid_token" });
      throw error;
    }
  }

  private async consumeVerificationToken(token: string): Promise<PublicUser> {
    const { users } = this.tables;
    const now = this.deps.clock.now();
    const user = await this.deps.database.transaction(async (tx) => {
      const userId = await consumeEmailToken(tx, this.deps.database, token, "verify_email", now);
      if (!userId) throw new AuthError("INVALID_TOKEN");
      const [verified] = await tx.update(users).set({ emailVerifiedAt: now, updatedAt: now }).where(eq(users.id, userId)).returning();
      return verified;
    });
    if (!user) throw new AuthError("INVALID_TOKEN");
    return toPublicUser(user);
  }

  /** Same outcome and same work on the request's path for every well-formed address. */
  async resendVerification(context: RequestContext, rawEmail: string): Promise<void> {
    const email = parseEmailField(rawEmail);
    this.defer("verification_resend", async () => {
      const user = await this.findUserByEmail(email);
      const queued = user && !user.emailVerifiedAt && (await this.queueAccountEmail(user, "verify_email"));
      // The outcome says whether an email was queued; the HTTP answer is the same either way.
      this.emit(context, {
        event: "verification_resend",
        outcome: queued ? "success" : "failure",
        userId: user?.id,
        email,
        reason: queued ? undefined : !user ? "unknown_account" : user.emailVerifiedAt ? "already_verified" : "throttled",
      });
    });
  }

  /** Queues a token email for the account unless its address had its share; shared with passwords. */
  async queueAccountEmail(user: UserRow, kind: EmailKind): Promise<boolean> {
    const queued = await this.deps.database.transaction(async (tx) => {
      await this.lockUser(tx, user.id);
      return issueEmailToken(tx, this.deps.database, this.deps.config, this.deps.keys, user, kind, this.deps.clock.now());
    });
    if (queued) this.deps.onEmailQueued();
    return queued;
  }
}
