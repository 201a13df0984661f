"""Well-known SMTP replies, explained: the usual cause and the fix, with where that comes from.

A reply such as `535 5.7.139 Authentication unsuccessful` says that something failed, not
what to change. Each entry below matches a reply by its code, its enhanced status code and,
where the code alone is ambiguous, a phrase of its text; the first entry that matches gives
the report's hint. Entries that name a provider come before the generic ones (RFC 3207,
RFC 4954) whose codes the providers reuse. The README lists the same table.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from worker.smtp import SMTPReply

_MICROSOFT_SMTP_AUTH = (
    "https://learn.microsoft.com/en-us/exchange/clients-and-mobile-in-exchange-online/"
    "authenticated-client-smtp-submission"
)
_MICROSOFT_BASIC_AUTH_RETIREMENT = (
    "https://techcommunity.microsoft.com/blog/exchange/"
    "exchange-online-to-retire-basic-auth-for-client-submission-smtp-auth/4114750"
)
_MICROSOFT_LEGACY_TLS = "https://aka.ms/smtp_auth_tls"
_GOOGLE_SMTP_ERRORS = "https://support.google.com/a/answer/3726730"
_RFC_3207 = "https://www.rfc-editor.org/rfc/rfc3207#section-4"
_RFC_4954 = "https://www.rfc-editor.org/rfc/rfc4954#section-6"
_POSTFIX_RELAY = "https://www.postfix.org/postconf.5.html#reject_unauth_destination"


@dataclass(frozen=True)
class KnownReply:
    provider: str
    code: int
    enhanced: str | None  # None: any (or no) enhanced status code
    phrase: str | None  # a case-insensitive regular expression the text must contain
    hint: str
    source: str

    def matches(self, reply: SMTPReply) -> bool:
        if reply.code != self.code:
            return False
        if self.enhanced is not None and reply.enhanced_code != self.enhanced:
            return False
        return self.phrase is None or re.search(self.phrase, reply.text, re.IGNORECASE) is not None


KNOWN_REPLIES: tuple[KnownReply, ...] = (
    KnownReply(
        "Microsoft 365",
        535,
        "5.7.139",
        None,
        "Exchange Online refused the login: SMTP AUTH (basic authentication) is turned off "
        "for the mailbox or the whole organisation, or security defaults block it. An "
        "administrator turns on Authenticated SMTP for this mailbox (and for the "
        "organisation), or the test uses XOAUTH2.",
        _MICROSOFT_SMTP_AUTH,
    ),
    KnownReply(
        "Microsoft 365",
        535,
        "5.7.3",
        None,
        "Exchange Online refused the login: the user or password is wrong, or SMTP AUTH is "
        "turned off for this mailbox. Check the password (an app password when the account "
        "has multi-factor authentication) and that Authenticated SMTP is on for the mailbox.",
        _MICROSOFT_SMTP_AUTH,
    ),
    KnownReply(
        "Microsoft 365",
        550,
        "5.7.30",
        None,
        "Exchange Online no longer takes a password for client submission (basic "
        "authentication is retired): authenticate with OAuth 2.0 instead (xoauth2, with an "
        "app registered in Microsoft Entra ID).",
        _MICROSOFT_BASIC_AUTH_RETIREMENT,
    ),
    KnownReply(
        "Microsoft 365",
        421,
        "4.7.66",
        None,
        "Exchange Online refuses SMTP AUTH over TLS 1.0 and 1.1: the session must use TLS "
        "1.2 or newer (see the report's TLS version; with tls: false there is no TLS at all).",
        _MICROSOFT_LEGACY_TLS,
    ),
    KnownReply(
        "Gmail",
        534,
        "5.7.9",
        r"application-specific password",
        "The Google account has 2-Step Verification, so its own password does not work for "
        "SMTP: create an app password for it and use that, or use XOAUTH2.",
        _GOOGLE_SMTP_ERRORS,
    ),
    KnownReply(
        "Gmail",
        534,
        "5.7.14",
        None,
        "Google blocked the sign-in as unusual: sign in to the account in a web browser and "
        "confirm the activity, then use an app password or XOAUTH2.",
        _GOOGLE_SMTP_ERRORS,
    ),
    KnownReply(
        "Gmail",
        535,
        "5.7.8",
        r"username and password not accepted",
        "Google refused the user or password. An account with 2-Step Verification needs an "
        "app password; Google Workspace may also have turned off password sign-in for apps "
        "(then use XOAUTH2).",
        _GOOGLE_SMTP_ERRORS,
    ),
    KnownReply(
        "RFC 3207",
        530,
        None,
        r"starttls",
        "The server takes nothing before the connection is encrypted: set tls: true (STARTTLS "
        "on this port).",
        _RFC_3207,
    ),
    KnownReply(
        "RFC 4954",
        530,
        "5.7.0",
        None,
        "The server takes mail only from clients that log in: give the user and password (or "
        "XOAUTH2) of an account on this server.",
        _RFC_4954,
    ),
    KnownReply(
        "RFC 4954",
        538,
        "5.7.11",
        None,
        "The server allows this login mechanism only over an encrypted connection: set tls: true.",
        _RFC_4954,
    ),
    KnownReply(
        "RFC 4954",
        534,
        "5.7.9",
        None,
        "The server finds the login mechanism too weak (PLAIN or LOGIN): it wants another "
        "one, often only over TLS (set tls: true) or XOAUTH2.",
        _RFC_4954,
    ),
    KnownReply(
        "RFC 4954",
        454,
        "4.7.0",
        None,
        "The server could not check the credentials just now (its authentication back end "
        "failed): test again later. mailprobe does not send the credentials twice in one job.",
        _RFC_4954,
    ),
    KnownReply(
        "RFC 4954",
        535,
        "5.7.8",
        None,
        "The server refused the user or the password. Check both; repeated failures can lock "
        "the account (servers count failed logins).",
        _RFC_4954,
    ),
    KnownReply(
        "Postfix",
        554,
        "5.7.1",
        r"relay access denied",
        "The server relays mail to other domains only for clients that log in (or for its "
        "own networks): give a user and password, or send to an address this server "
        "receives mail for.",
        _POSTFIX_RELAY,
    ),
)


def known_reply(reply: SMTPReply) -> KnownReply | None:
    """The first entry of KNOWN_REPLIES that explains `reply`, if any."""
    return next((entry for entry in KNOWN_REPLIES if entry.matches(reply)), None)
