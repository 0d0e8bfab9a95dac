"""The session expiry among the scheduled jobs ``run_billing_jobs`` runs, so a deployment
without a Celery worker still expires sessions (from cron)."""

from billing.subscriptions.jobs import job_register

JOB_NAME = "taro_sessions_expire"


def taro_sessions_expire() -> int:
    """Marks the ACTIVE sessions whose time has run out EXPIRED; returns how many."""
    from plugins.taro.services import taro_sessions_expire as expire

    return expire()


def register() -> None:
    job_register(JOB_NAME, taro_sessions_expire)
