"""Creating, resetting and provisioning sandboxes; each system package provides the same four functions."""

import importlib

from django.db import transaction

from sandbox.faults import apply_profile
from sandbox.models import Corruption, FaultProfile, Sandbox, SandboxCall, SandboxCredential

SYSTEM_NAMES = ("prestashop", "channeladvisor", "tims")


def system_module(system):
    """`sandbox.<system>.provision`: issue_credentials, seed, reset, generate."""
    if system not in SYSTEM_NAMES:
        raise ValueError(f"Unknown system “{system}”; choose one of {', '.join(SYSTEM_NAMES)}.")
    return importlib.import_module(f"sandbox.{system}.provision")


def base_path(sandbox, system):
    return f"/sandbox/{sandbox.slug}/{system}"


@transaction.atomic
def create_sandbox(slug, name="", organization=None):
    """Create a sandbox with every system's reference data; returns (sandbox, created)."""
    sandbox, created = Sandbox.objects.get_or_create(slug=slug, defaults={"name": name or slug,
                                                                          "organization": organization})
    if created:
        for system in SYSTEM_NAMES:
            profile = FaultProfile(sandbox=sandbox, system=system)
            apply_profile(profile, "none")
            profile.save()
            system_module(system).seed(sandbox)
    return sandbox, created


@transaction.atomic
def issue_credentials(sandbox, server_root=""):
    """Issue a fresh set of secrets for every system (older ones keep working) and return them once."""
    return {system: system_module(system).issue_credentials(sandbox, server_root + base_path(sandbox, system))
            for system in SYSTEM_NAMES}


@transaction.atomic
def reset_sandbox(sandbox, systems=SYSTEM_NAMES):
    """Remove a sandbox's business data and call counts, then seed its reference data again."""
    for system in systems:
        module = system_module(system)
        module.reset(sandbox)
        module.seed(sandbox)
    SandboxCall.objects.filter(sandbox=sandbox, system__in=systems).delete()
    Corruption.objects.filter(sandbox=sandbox, system__in=systems).delete()


def revoke_credentials(sandbox, system=None):
    rows = SandboxCredential.objects.filter(sandbox=sandbox)
    if system:
        rows = rows.filter(system=system)
    return rows.update(active=False)


def set_faults(sandbox, system, profile_name=None, seed=None, **overrides):
    profile, _ = FaultProfile.objects.get_or_create(sandbox=sandbox, system=system)
    if profile_name:
        apply_profile(profile, profile_name)
    if seed is not None:
        profile.seed = seed
    for field, value in overrides.items():
        if value is not None:
            setattr(profile, field, value)
    if overrides and any(v is not None for v in overrides.values()) and not profile_name:
        profile.profile = "custom"
    profile.save()
    return profile
