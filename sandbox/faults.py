"""Named fault profiles and the per-call decision of which fault to inject, deterministic from a seed."""

import random
import threading

PROFILES = {
    "none": {},
    "flaky": {"latency_ms": 20, "jitter_ms": 30, "error_rate": 0.05, "throttle_rate": 0.02, "throttle_burst": 2,
              "commit_then_fail_rate": 0.02, "webhook_duplicate_rate": 0.05},
    "chaos": {"latency_ms": 30, "jitter_ms": 120, "error_rate": 0.12, "throttle_rate": 0.05, "throttle_burst": 3,
              "hang_rate": 0.01, "hang_seconds": 12, "commit_then_fail_rate": 0.08,
              "webhook_duplicate_rate": 0.2, "webhook_reorder_rate": 0.2},
    "down": {"error_rate": 1.0},
}
FIELDS = ("latency_ms", "jitter_ms", "error_rate", "throttle_rate", "throttle_burst", "retry_after_seconds",
          "hang_rate", "hang_seconds", "commit_then_fail_rate", "webhook_duplicate_rate", "webhook_reorder_rate")
DEFAULTS = {"latency_ms": 0, "jitter_ms": 0, "error_rate": 0.0, "throttle_rate": 0.0, "throttle_burst": 3,
            "retry_after_seconds": 1, "hang_rate": 0.0, "hang_seconds": 35.0, "commit_then_fail_rate": 0.0,
            "webhook_duplicate_rate": 0.0, "webhook_reorder_rate": 0.0}


def apply_profile(profile_row, name):
    """Reset a FaultProfile row to a named profile's values."""
    if name not in PROFILES:
        raise ValueError(f"Unknown fault profile “{name}”; choose one of {', '.join(PROFILES)}.")
    values = {**DEFAULTS, **PROFILES[name]}
    for field, value in values.items():
        setattr(profile_row, field, value)
    profile_row.profile = name


class Decider:
    """One random stream per (sandbox, system, seed) in this process, so a seed replays the same faults."""

    _lock = threading.Lock()
    _streams = {}
    _throttle_left = {}

    @classmethod
    def reset(cls):
        with cls._lock:
            cls._streams.clear()
            cls._throttle_left.clear()

    @classmethod
    def decide(cls, profile, is_write):
        """Return (fault, delay_seconds): fault is '', 'error:503', 'throttle', 'hang' or 'commit_then_fail'."""
        key = (profile.sandbox_id, profile.system, profile.seed, profile.updated_at)
        with cls._lock:
            rng = cls._streams.get(key)
            if rng is None:
                rng = cls._streams[key] = random.Random(f"{profile.seed}:{profile.system}")
            delay = (profile.latency_ms + rng.random() * profile.jitter_ms) / 1000.0
            left = cls._throttle_left.get(key, 0)
            if left > 0:
                cls._throttle_left[key] = left - 1
                return "throttle", delay
            roll = rng.random()
            if roll < profile.error_rate:
                return f"error:{rng.choice([500, 502, 503]) if profile.error_rate < 1 else 503}", delay
            roll -= profile.error_rate
            if roll < profile.throttle_rate:
                cls._throttle_left[key] = max(profile.throttle_burst - 1, 0)
                return "throttle", delay
            roll -= profile.throttle_rate
            if roll < profile.hang_rate:
                return "hang", delay
            roll -= profile.hang_rate
            if is_write and roll < profile.commit_then_fail_rate:
                return "commit_then_fail", delay
            return "", delay

    @classmethod
    def webhook_plan(cls, profile):
        """(copies, delay_seconds) for one webhook: duplicates and out-of-order deliveries."""
        if profile is None:
            return 1, 0.0
        key = ("webhook", profile.sandbox_id, profile.system, profile.seed, profile.updated_at)
        with cls._lock:
            rng = cls._streams.get(key)
            if rng is None:
                rng = cls._streams[key] = random.Random(f"{profile.seed}:{profile.system}:webhooks")
            copies = 2 if rng.random() < profile.webhook_duplicate_rate else 1
            delay = rng.uniform(1.0, 5.0) if rng.random() < profile.webhook_reorder_rate else 0.0
            return copies, delay
