import { describe, expect, test } from "bun:test";
import { mailboxOf } from "../../src/auth/email";
import { clientOf } from "../../src/http/client-address";

describe("clientOf: the client an address identifies", () => {
  test.each([
    ["203.0.113.9", "203.0.113.9"],
    ["::ffff:203.0.113.9", "203.0.113.9"],
    ["::ffff:cb00:7109", "203.0.113.9"],
    ["0:0:0:0:0:ffff:203.0.113.9", "203.0.113.9"],
    ["2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"],
    ["2001:DB8:1:2::abcd", "2001:db8:1:2::/64"],
    ["[2001:db8:1:2::1]", "2001:db8:1:2::/64"],
    ["2001:db8::1", "2001:db8:0:0::/64"],
    ["fe80::1%eth0", "fe80:0:0:0::/64"],
    ["not-an-address", "not-an-address"],
  ])("%s is %s", (address, client) => {
    expect(clientOf(address)).toBe(client);
  });
});

describe("mailboxOf: the address without its +tag", () => {
  test.each([
    ["student+1@ualberta.ca", "student@ualberta.ca"],
    ["student+a+b@ualberta.ca", "student@ualberta.ca"],
    ["student@ualberta.ca", "student@ualberta.ca"],
    ["+tag@ualberta.ca", "+tag@ualberta.ca"],
  ])("%s delivers to %s", (address, mailbox) => {
    expect(mailboxOf(address)).toBe(mailbox);
  });
});
