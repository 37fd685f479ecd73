"""Flow steps are plain functions registered by (flow, entity type); the pipeline calls them with a claimed record."""

import importlib

HANDLERS = {}
FLOW_MODULES = ["integrations.flows.orders"]  # modules whose import registers their steps


def handles(flow, entity_type):
    def register(function):
        HANDLERS[(flow, entity_type)] = function
        return function

    return register


def handler_for(record):
    for module in FLOW_MODULES:
        importlib.import_module(module)
    return HANDLERS.get((record.flow, record.entity_type))
