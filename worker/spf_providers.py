"""Well-known SMTP providers: the SMTP host names their customers connect to, and the domain
each asks its customers to include in their SPF record, with the page that says so.

For these, the sender-domain check asks whether the sender's SPF record includes the
provider's SPF domain: the address mailprobe connects to is the provider's submission
server, not the one that relays the mail to receivers, so evaluating it would say nothing.
Any other host is judged by evaluating the address mailprobe connected to (see
worker/senderdomain.py). The README lists this table; keep the two in step.
"""

from __future__ import annotations

from dataclasses import dataclass
from fnmatch import fnmatchcase


@dataclass(frozen=True)
class Provider:
    name: str
    # SMTP host names, lower case; "*" stands for one label or more.
    hosts: tuple[str, ...]
    spf_domain: str
    source: str


PROVIDERS: tuple[Provider, ...] = (
    Provider(
        name="Microsoft 365",
        hosts=("smtp.office365.com", "*.mail.protection.outlook.com"),
        spf_domain="spf.protection.outlook.com",
        source="https://learn.microsoft.com/en-us/defender-office-365/email-authentication-spf-configure",
    ),
    Provider(
        name="Google Workspace",
        hosts=("smtp.gmail.com", "smtp-relay.gmail.com", "aspmx.l.google.com"),
        spf_domain="_spf.google.com",
        source="https://support.google.com/a/answer/10685031",
    ),
    Provider(
        name="Amazon SES",
        hosts=("email-smtp.*.amazonaws.com",),
        spf_domain="amazonses.com",
        source="https://docs.aws.amazon.com/ses/latest/dg/send-email-authentication-spf.html",
    ),
    Provider(
        name="SendGrid",
        hosts=("smtp.sendgrid.net",),
        spf_domain="sendgrid.net",
        source="https://www.twilio.com/docs/sendgrid/ui/account-and-settings/spf-records",
    ),
    Provider(
        name="Mailgun",
        hosts=("smtp.mailgun.org", "smtp.eu.mailgun.org"),
        spf_domain="mailgun.org",
        source="https://documentation.mailgun.com/docs/mailgun/user-manual/domains/domains-verify",
    ),
    Provider(
        name="Postmark",
        hosts=("smtp.postmarkapp.com", "smtp-broadcasts.postmarkapp.com"),
        spf_domain="spf.mtasv.net",
        source="https://postmarkapp.com/support/article/900-what-is-spf",
    ),
    Provider(
        name="Mailjet",
        hosts=("in-v3.mailjet.com", "in.mailjet.com"),
        spf_domain="spf.mailjet.com",
        source="https://documentation.mailjet.com/hc/en-us/articles/360042412734-Authenticating-domains-with-SPF-DKIM",
    ),
    Provider(
        name="Mailchimp Transactional (Mandrill)",
        hosts=("smtp.mandrillapp.com",),
        spf_domain="spf.mandrillapp.com",
        source="https://mailchimp.com/developer/transactional/docs/authentication-delivery/",
    ),
)


def provider_for_host(host: str) -> Provider | None:
    """The table's provider whose SMTP host this is, if any."""
    name = host.lower().rstrip(".")
    for provider in PROVIDERS:
        if any(fnmatchcase(name, pattern) for pattern in provider.hosts):
            return provider
    return None
