"""Once a minute: each active rule's findings against the alerts it has open. A new finding opens an alert and
tells people once; a finding that lasts is the same alert (reminded only if the rule asks and nobody acknowledged
it); a finding that is gone resolves its alert with a recovery message. Digest rules send one summary instead."""

import logging
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone

from alerts import notify
from alerts.conditions import duration_text, findings, local_time
from alerts.models import Alert, AlertRule, Delivery

log = logging.getLogger(__name__)


def run(now=None):
    """Evaluate every active rule; one rule's failure does not stop the others. {rule id: (opened, resolved)}"""
    now = now or timezone.now()
    done = {}
    for rule in AlertRule.objects.filter(active=True):
        try:
            done[rule.pk] = evaluate(rule, now)
        except Exception:
            log.exception("Alert rule %s (%s) could not be evaluated", rule.pk, rule.name)
    return done


def evaluate(rule, now):
    found = findings(rule, now)
    open_alerts = {alert.subject: alert for alert in rule.alerts.filter(resolved_at__isnull=True)}
    opened, resolved = [], []
    for subject, finding in found.items():
        alert = open_alerts.get(subject)
        if alert is None:
            alert = _open(rule, subject, finding, now)
            if alert is not None:
                opened.append(alert)
        else:
            Alert.objects.filter(pk=alert.pk).update(last_seen_at=now, message=finding.message, url=finding.url)
    for subject, alert in open_alerts.items():
        if subject not in found:
            Alert.objects.filter(pk=alert.pk, resolved_at__isnull=True).update(resolved_at=now)
            alert.resolved_at = now
            resolved.append(alert)
    if rule.digest_minutes:
        _digest(rule, now)
    else:
        _tell(rule, now)
    return len(opened), len(resolved)


def _open(rule, subject, finding, now):
    try:
        with transaction.atomic():
            return Alert.objects.create(rule=rule, organization_id=finding.organization_id, subject=subject,
                                        subject_label=finding.label[:200], message=finding.message, url=finding.url,
                                        started_at=now, last_seen_at=now)
    except IntegrityError:  # another evaluator opened it a moment ago: one alert per rule and subject
        return None


def _tell(rule, now):
    """Messages not yet sent (or whose channels failed) go out now: firing, recovered, reminders."""
    for alert in rule.alerts.filter(notified_at__isnull=True).order_by("started_at"):
        if notify.send(rule, "firing", f"{rule.name}: {alert.subject_label}", _text(alert), [alert], alert):
            Alert.objects.filter(pk=alert.pk).update(notified_at=now)
    for alert in rule.alerts.filter(resolved_at__isnull=False, recovery_notified_at__isnull=True,
                                    notified_at__isnull=False):
        lasted = duration_text(alert.resolved_at - alert.started_at)
        text = f"Recovered at {local_time(alert.resolved_at)}, after {lasted}.\nIt was: {alert.message}"
        if notify.send(rule, "recovery", f"Recovered — {rule.name}: {alert.subject_label}", text, [alert], alert):
            Alert.objects.filter(pk=alert.pk).update(recovery_notified_at=now)
    if rule.repeat_minutes:
        due = now - timedelta(minutes=rule.repeat_minutes)
        for alert in rule.alerts.filter(resolved_at__isnull=True, acknowledged_at__isnull=True,
                                        notified_at__lt=due).exclude(reminded_at__gte=due):
            if notify.send(rule, "reminder", f"Still firing, not acknowledged — {rule.name}: {alert.subject_label}",
                           _text(alert), [alert], alert):
                Alert.objects.filter(pk=alert.pk).update(reminded_at=now)


def _digest(rule, now):
    """One message every digest_minutes: what fires now and what recovered since the last digest."""
    if rule.last_digest_at and now - rule.last_digest_at < timedelta(minutes=rule.digest_minutes):
        return
    since = rule.last_digest_at or now - timedelta(minutes=rule.digest_minutes)
    firing = list(rule.alerts.filter(resolved_at__isnull=True).order_by("started_at"))
    recovered = list(rule.alerts.filter(resolved_at__gte=since).order_by("resolved_at"))
    if not firing and not recovered:
        AlertRule.objects.filter(pk=rule.pk).update(last_digest_at=now)
        return
    lines = [f"Firing ({len(firing)}):"] + [f"• {a.subject_label} since {local_time(a.started_at)}"
                                            f"{' (acknowledged)' if a.acknowledged_at else ''}: {a.message}"
                                            for a in firing]
    lines += [f"Recovered since {local_time(since)} ({len(recovered)}):"] + [
        f"• {a.subject_label}, at {local_time(a.resolved_at)}" for a in recovered]
    if notify.send(rule, "digest", f"{rule.name}: {len(firing)} firing, {len(recovered)} recovered",
                   "\n".join(lines), firing + recovered):
        AlertRule.objects.filter(pk=rule.pk).update(last_digest_at=now)
        Alert.objects.filter(pk__in=[a.pk for a in firing + recovered], notified_at__isnull=True).update(
            notified_at=now)
        Alert.objects.filter(pk__in=[a.pk for a in recovered]).update(recovery_notified_at=now)


def send_test(rule):
    """A test message to the rule's channels, from its admin page."""
    text = f"This is a test of the alert rule “{rule.name}”. If you read this, its messages reach you."
    return notify.send(rule, Delivery.Kind.TEST, f"Test — {rule.name}", text)


def _text(alert):
    text = f"{alert.message}\nSince {local_time(alert.started_at)}."
    return f"{text}\nSee {notify.absolute(alert.url)}" if alert.url else text
