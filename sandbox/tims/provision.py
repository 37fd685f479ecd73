"""Placeholder until this system's sandbox lands: provides the four functions sandbox.services expects."""


def issue_credentials(sandbox, base_url):
    return {"base_url": base_url}


def seed(sandbox):
    pass


def reset(sandbox):
    pass


def generate(sandbox, *, orders, products, customers, state, unknown_sku, rng):
    raise NotImplementedError("This sandbox system cannot generate data yet.")
