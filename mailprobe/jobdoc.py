"""A job's document as Redis keeps it: its JSON, deflated against a preset dictionary.

A finished job's JSON is 3-4 KB (its report: phases, TLS, transcript), and a deployment
keeps every job for MAILPROBE_RESULT_TTL. Most of that JSON is the same in every job: field
names, phase names, notes, the SMTP verbs of the transcript. Deflate with a dictionary that
holds those (zlib's `zdict`) stores such a document in about 500 bytes; plain deflate only
halves it, as a single document has too little to repeat. The stored form is bytes, not
text: base64 would add a third, and Redis keeps a hash with a value over 64 bytes as a
hash table whose values are allocated in steps (512, 640, 768 bytes...), so every byte
saved below a step is memory saved (JobStore reads the document undecoded).

For the same reason an ended job keeps its tenant in its document, not in a field of its
own: each field of such a hash costs some 50 bytes. Only an ended job's document is packed
(JobStore.finish): it is kept for the retention and only read from then on, while a job in
progress is rewritten at every step and gone from memory's concern in minutes.

The format is versioned by its first byte: "{" is a document stored as plain JSON (before
this module: still read), 0x01 is raw deflate against _DICTIONARY_1, 0x02 is the tenant,
a NUL, then as 0x01. A dictionary can never change once documents were stored with it; a
better one is a new version, and unpack_doc() keeps reading every old one.
"""

from __future__ import annotations

import zlib

# The start of a typical finished job, with the strings most jobs repeat. Deflate finds
# matches anywhere in the dictionary but codes near ones shortest: what nearly every job has
# (field names, the transcript's verbs) comes last. Frozen: see the module docstring.
_DICTIONARY_1 = (
    b'"error":{"category":"timeout","phase":"connect","message":"the server did not answer '
    b'in time","smtpCode":null,"enhancedCode":null,"retryable":true},'
    b'"category":"auth","phase":"auth","message":"authentication failed: 535 5.7.8 '
    b'Authentication credentials invalid","smtpCode":535,"enhancedCode":"5.7.8",'
    b'"retryable":false},"outcome":"failed","status":"failed",'
    b'"auth":{"offered":["PLAIN","LOGIN","XOAUTH2"],"used":"PLAIN"},'
    b'{"name":"auth","ok":true,"durationMs":12.5,"reply":{"code":235,"text":"2.7.0 '
    b'Authentication successful"},"note":null},"C: AUTH PLAIN <credentials>","S: 235 2.7.0 '
    b'Authentication successful","S: 250-AUTH PLAIN LOGIN","S: 250-PIPELINING",'
    b'"S: 250-ENHANCEDSTATUSCODES","S: 250-SMTPUTF8","S: 250 CHUNKING",'
    b'"warnings":[{"code":"starttls_fallback","message":"port 587 does not speak TLS on '
    b"connect (implicit TLS, RFC 8314): the server greeted in plaintext, so the session was "
    b'encrypted with STARTTLS on a second connection"}],'
    b'{"id":"01JB0000000000000000000000","status":"succeeded",'
    b'"createdAt":"2026-01-01T00:00:00.000Z","startedAt":"2026-01-01T00:00:00.000Z",'
    b'"finishedAt":"2026-01-01T00:00:00.000Z","updatedAt":"2026-01-01T00:00:00.000Z",'
    b'"request":{"senderAddress":"noreply@example.com","senderName":"Example","tls":true,'
    b'"host":"smtp.example.com:587","user":"","receiverAddress":"test@example.com","id":"",'
    b'"dryRun":false},"maxAttempts":null,"attempts":[{"number":1,'
    b'"startedAt":"2026-01-01T00:00:00.000Z","finishedAt":"2026-01-01T00:00:00.000Z",'
    b'"outcome":"succeeded","error":null}],"result":{"ok":true,"host":"smtp.example.com",'
    b'"port":587,"address":"192.0.2.1","tls":{"mode":"starttls","version":"TLSv1.3",'
    b'"cipher":"TLS_AES_256_GCM_SHA384","certificate":{"subject":"CN=smtp.example.com",'
    b'"issuer":"CN=R11,O=Let\'s Encrypt,C=US","subjectAltNames":["smtp.example.com"],'
    b'"notBefore":"2026-01-01T00:00:00Z","notAfter":"2026-04-01T00:00:00Z","sha256":"",'
    b'"chainLength":2,"verified":true,"verifyError":null}},'
    b'"extensions":["8BITMIME","SIZE 10000000"],"smtpUtf8":false,'
    b'"auth":{"offered":[],"used":null},"phases":['
    b'{"name":"resolve","ok":true,"durationMs":0.05,"reply":null,"note":null},'
    b'{"name":"connect","ok":true,"durationMs":0.15,"reply":null,"note":null},'
    b'{"name":"tls","ok":true,"durationMs":0.57,"reply":null,"note":"no TLS on connect: the '
    b"server greets in plaintext, so STARTTLS follows on a new connection (Zitadel's "
    b'order)"},{"name":"connect","ok":true,"durationMs":0.25,"reply":null,"note":"a new '
    b'connection, for STARTTLS"},{"name":"banner","ok":true,"durationMs":0.03,"reply":{'
    b'"code":220,"text":"smtp.example.com ESMTP"},"note":null},{"name":"ehlo","ok":true,'
    b'"durationMs":0.1,"reply":{"code":250,"text":"smtp.example.com\\nSTARTTLS\\n8BITMIME\\n'
    b'SIZE 10000000"},"note":null},{"name":"starttls","ok":true,"durationMs":2.74,"reply":{'
    b'"code":220,"text":"2.0.0 Ready to start TLS"},"note":null},{"name":"ehlo","ok":true,'
    b'"durationMs":1.01,"reply":{"code":250,"text":"smtp.example.com\\n8BITMIME\\nSIZE '
    b'10000000"},"note":null},{"name":"mail_from","ok":true,"durationMs":0.16,"reply":{'
    b'"code":250,"text":"2.1.0 Ok"},"note":null},{"name":"rcpt_to","ok":true,'
    b'"durationMs":0.18,"reply":{"code":250,"text":"2.1.5 Ok"},"note":null},{"name":"data",'
    b'"ok":true,"durationMs":6.13,"reply":{"code":250,"text":"2.0.0 Ok: queued"},"note":null},'
    b'{"name":"quit","ok":true,"durationMs":2.13,"reply":{"code":221,"text":"2.0.0 Bye"},'
    b'"note":null}],"dryRun":false,"recipient":{"address":"test@example.com",'
    b'"status":"accepted","code":250,"enhancedCode":null,"text":"2.1.5 Ok"},"sent":true,'
    b'"messageId":"<170000000000.1.1.01JB0000000000000000000000@example.com>",'
    b'"subject":"mailprobe test 00000000: smtp.example.com:587, 2026-01-01 00:00 UTC",'
    b'"error":null,"warnings":[],"transcript":["S: 220 smtp.example.com ESMTP",'
    b'"C: EHLO mailprobe.localdomain","S: 250-smtp.example.com","S: 250-STARTTLS",'
    b'"S: 250-8BITMIME","S: 250 SIZE 10000000","C: STARTTLS","S: 220 2.0.0 Ready to start '
    b'TLS","C: EHLO mailprobe.localdomain","S: 250-smtp.example.com","S: 250-8BITMIME",'
    b'"S: 250 SIZE 10000000","C: MAIL FROM:<noreply@example.com> SIZE=805","S: 250 2.1.0 Ok",'
    b'"C: RCPT TO:<test@example.com>","S: 250 2.1.5 Ok","C: DATA","S: 354 End data with '
    b'<CR><LF>.<CR><LF>","C: <message, 805 bytes, <170000000000.1.1.01JB0000000000000000000'
    b'000@example.com>>","C: .","S: 250 2.0.0 Ok: queued","C: QUIT","S: 221 2.0.0 Bye"],'
    b'"senderDomain":null},"retest":null}'
)

_VERSION_1 = b"\x01"
_WITH_TENANT_1 = b"\x02"
_PLAIN_JSON = b"{"
# Raw deflate (no zlib header or checksum: a corrupt document fails to parse as JSON anyway)
# at the highest level: a document is packed once per save, and read more often.
_LEVEL = 9
_WINDOW_BITS = -15


def pack_doc(text: str, tenant: str | None = None) -> bytes:
    """The stored form of a job's JSON document, with its tenant when given (an ended job's:
    tenants have no NUL, mailprobe.apikeys)."""
    deflate = zlib.compressobj(_LEVEL, zlib.DEFLATED, _WINDOW_BITS, zdict=_DICTIONARY_1)
    packed = deflate.compress(text.encode()) + deflate.flush()
    if tenant is None:
        return _VERSION_1 + packed
    return _WITH_TENANT_1 + tenant.encode() + b"\0" + packed


def unpack_doc(stored: bytes) -> str:
    """A job's JSON document from its stored form, in any version this module has written."""
    return unpack_job(stored)[1]


def unpack_job(stored: bytes) -> tuple[str | None, str]:
    """The tenant kept in a stored document (None when it has none) and its JSON document."""
    if stored.startswith(_PLAIN_JSON):
        return None, stored.decode()
    tenant = None
    if stored.startswith(_WITH_TENANT_1):
        name, nul, rest = stored[len(_WITH_TENANT_1) :].partition(b"\0")
        if not nul:
            raise ValueError("a job document without the end of its tenant")
        tenant, stored = name.decode(), _VERSION_1 + rest
    if stored.startswith(_VERSION_1):
        inflate = zlib.decompressobj(_WINDOW_BITS, zdict=_DICTIONARY_1)
        text = inflate.decompress(stored[len(_VERSION_1) :]) + inflate.flush()
        return tenant, text.decode()
    raise ValueError(f"a job document in an unknown format (first byte {stored[:1]!r})")
