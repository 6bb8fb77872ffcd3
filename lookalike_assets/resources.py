"""Every resource of the code location with the values configured now, for code that runs outside a Dagster run
(the command line, the tests): no ``EnvVar`` left to resolve. Beside ``defs/``, not in it, so that the shared
resources (``defs/resources.py``) never import the areas that build on them."""

from __future__ import annotations

import dagster as dg

from lookalike_assets.defs.analytics.dbt import dbt_resource
from lookalike_assets.defs.audiences.resources import audience_resources
from lookalike_assets.defs.feedback.resources import feedback_resources
from lookalike_assets.defs.leads.resources import leads_resources
from lookalike_assets.defs.resources import shared_resources


def default_resources() -> dict[str, dg.ConfigurableResource]:
    return {**shared_resources(False), **leads_resources(False), **audience_resources(False),
            **feedback_resources(False), "dbt": dbt_resource()}
