"""Every Redis key mailprobe uses, in one place. All start with "mailprobe:".

- mailprobe:job:{id}               hash: tenant (in doc once the job has ended), doc (the Job's
                                   JSON, deflated: mailprobe.jobdoc), secret (encrypted),
                                   watched (set once a client follows its events), awaited
                                   (until its end, when someone waits for it);
                                   a re-test's also retest (its provider id, until its history
                                   has the run) and events (its webhook events, until dispatched)
- mailprobe:job:{id}:done          stream: one entry once an awaited job has ended (long polls,
                                   SSE and Zitadel's synchronous calls wait on it); kept minutes
- mailprobe:job:{id}:events        stream: the phases a watched job completed (Server-Sent Events)
- mailprobe:job:{id}:lease         string: the token of the worker running an attempt (expires)
- mailprobe:jobs:unfinished        sorted set: unfinished job id -> time of its last progress
- mailprobe:idempotency:{tenant}:{sha256 of the key}  hash: body hash, job id (24 h)
- mailprobe:sweeper                string: lock of the worker sweeping stuck jobs (expires)
- mailprobe:tenant:{tenant}:jobs   sorted set of job ids (all score 0, so ids sort by time)
- mailprobe:provider:{id}          hash: tenant, doc (the settings as JSON, no secret),
                                   secret (encrypted JSON of the secrets), details (JSON),
                                   certificateWarned (the sha256 of the certificate whose
                                   expiry was announced: mailprobe.history)
- mailprobe:provider:{id}:history  list: the provider's last re-tests, newest first (JSON)
- mailprobe:retests:due            sorted set: provider id -> when its next re-test is due
                                   (unix ms; mailprobe.schedule)
- mailprobe:retests:scheduler      string: lock of the worker claiming due re-tests (expires)
- mailprobe:event:{id}             hash: tenant, type, job, body: a provider's webhook event,
                                   for its deliveries (expires with the jobs)
- mailprobe:tenant:{tenant}:providers  sorted set of provider ids (score 0, sorted by id)
- mailprobe:tenant:{tenant}:active     string: the id of the tenant's active provider
- mailprobe:webhook:{id}           hash: tenant, doc (the subscription), secret (encrypted)
- mailprobe:webhook:{id}:deliveries  list: the delivery log, newest first (1,000 kept)
- mailprobe:tenant:{tenant}:webhooks  sorted set of webhook ids
- mailprobe:webhooks:scheduled     sorted set: "webhook job attempt" -> when it is due
- mailprobe:ratelimit:{tenant}     string: the tenant's rate limit state (GCRA: next free time)
- mailprobe:destination:{host}     sorted set: SMTP sessions in progress -> when each expires
- mailprobe:apikey:{sha256}        hash: tenant, permissions, createdAt, revokedAt
- mailprobe:workers                sorted set: worker name -> last heartbeat (unix seconds)
- mailprobe:workers:server         hash: worker name -> run_id of the Redis server its presence
                                   connection is subscribed on (mailprobe.liveness)
- mailprobe:worker:{name}:leases   set: ids of the jobs whose lease the worker holds
- mailprobe:reaper                 string: lock of the worker handing back dead workers' jobs
- mailprobe:sessions               sorted set: SMTP sessions in progress -> when each expires
- mailprobe:watch                  pub/sub channel: ids of jobs a client has started to watch
- mailprobe:metrics:jobs           hash: "outcome category" -> jobs ended (deployment totals)
- mailprobe:metrics:phases         hash: "phase bucket" -> phases observed, "phase sum" -> seconds
- mailprobe:metrics:webhooks       hash: outcome -> webhook delivery attempts
- mailprobe:metrics:recent:{slot}  hash: "outcome category" -> jobs ended in a 5 s slot (expires)
- mailprobe:fence                  string: written before each WAIT (mailprobe.durability; expires)
The pub/sub channel mailprobe:worker:{name}:presence has one subscriber while the worker's
process lives (mailprobe.liveness). The Celery queues themselves are the lists
"mailprobe.smtp" and "mailprobe.webhooks" (kombu's naming).
"""

PREFIX = "mailprobe"

SMTP_QUEUE = "mailprobe.smtp"
WEBHOOK_QUEUE = "mailprobe.webhooks"
QUEUES = (SMTP_QUEUE, WEBHOOK_QUEUE)

FENCE = f"{PREFIX}:fence"


def job(job_id: str) -> str:
    return f"{PREFIX}:job:{job_id}"


def job_done(job_id: str) -> str:
    return f"{PREFIX}:job:{job_id}:done"


def job_id_of_done(key: str) -> str:
    """The job id in a job_done key."""
    return key.removeprefix(f"{PREFIX}:job:").removesuffix(":done")


def job_lease(job_id: str) -> str:
    return f"{PREFIX}:job:{job_id}:lease"


def idempotency(tenant: str, key_digest: str) -> str:
    return f"{PREFIX}:idempotency:{tenant}:{key_digest}"


def tenant_jobs(tenant: str) -> str:
    return f"{PREFIX}:tenant:{tenant}:jobs"


def provider(provider_id: str) -> str:
    return f"{PREFIX}:provider:{provider_id}"


def provider_history(provider_id: str) -> str:
    return f"{PREFIX}:provider:{provider_id}:history"


def event(event_id: str) -> str:
    return f"{PREFIX}:event:{event_id}"


def tenant_providers(tenant: str) -> str:
    return f"{PREFIX}:tenant:{tenant}:providers"


def tenant_active_provider(tenant: str) -> str:
    return f"{PREFIX}:tenant:{tenant}:active"


def webhook(webhook_id: str) -> str:
    return f"{PREFIX}:webhook:{webhook_id}"


def webhook_deliveries(webhook_id: str) -> str:
    return f"{PREFIX}:webhook:{webhook_id}:deliveries"


def tenant_webhooks(tenant: str) -> str:
    return f"{PREFIX}:tenant:{tenant}:webhooks"


def rate_limit(tenant: str) -> str:
    return f"{PREFIX}:ratelimit:{tenant}"


def destination(host: str) -> str:
    return f"{PREFIX}:destination:{host.lower()}"


def api_key(digest: str) -> str:
    return f"{PREFIX}:apikey:{digest}"


def job_events(job_id: str) -> str:
    return f"{PREFIX}:job:{job_id}:events"


def recent_jobs(slot: int) -> str:
    return f"{PREFIX}:metrics:recent:{slot}"


def worker_presence(worker: str) -> str:
    """A pub/sub channel, not a key: its subscriber is the worker's presence connection."""
    return f"{PREFIX}:worker:{worker}:presence"


def worker_leases(worker: str) -> str:
    return f"{PREFIX}:worker:{worker}:leases"


WORKERS = f"{PREFIX}:workers"
WORKER_SERVERS = f"{PREFIX}:workers:server"
REAPER = f"{PREFIX}:reaper"
UNFINISHED_JOBS = f"{PREFIX}:jobs:unfinished"
SWEEPER = f"{PREFIX}:sweeper"
WEBHOOKS_SCHEDULED = f"{PREFIX}:webhooks:scheduled"
RETESTS_DUE = f"{PREFIX}:retests:due"
RETEST_SCHEDULER = f"{PREFIX}:retests:scheduler"
WEBHOOK_DISPATCHER = f"{PREFIX}:webhooks:dispatcher"
SESSIONS = f"{PREFIX}:sessions"
WATCH_CHANNEL = f"{PREFIX}:watch"
METRICS_JOBS = f"{PREFIX}:metrics:jobs"
METRICS_PHASES = f"{PREFIX}:metrics:phases"
METRICS_WEBHOOKS = f"{PREFIX}:metrics:webhooks"
