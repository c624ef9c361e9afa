import type { Tables } from "../db/database";

export type UserRow = Tables["users"]["$inferSelect"];

export interface PublicUser {
  id: string;
  email: string;
  username: string;
  firstName: string;
  lastName: string | null;
  emailVerified: boolean;
  createdAt: string;
}

/** The only view of an account that ever leaves the service. */
export function toPublicUser(user: UserRow): PublicUser {
  return {
    id: user.id,
    email: user.email,
    username: user.username,
    firstName: user.firstName,
    lastName: user.lastName,
    emailVerified: user.emailVerifiedAt !== null,
    createdAt: user.createdAt.toISOString(),
  };
}
