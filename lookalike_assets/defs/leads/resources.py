"""The text encoder the lead embeddings use."""

from __future__ import annotations

import dagster as dg

from lookalike_assets.defs.resources import SettingsResource, configured, setting
from lookalike_assets.domain.encoder_choice import get_encoder
from lookalike_assets.domain.encoders import TextEncoder


class TextEncoderResource(SettingsResource):
    """The text encoder: 'minilm' (all-MiniLM-L6-v2, offline), or explicitly 'hashing' or 'none'."""

    encoder: str = setting("encoder")
    batch_size: int = setting("encoder_batch_size", ge=1)

    def get(self) -> TextEncoder:
        return get_encoder(self.encoder, self.batch_size)


def leads_resources(env_vars: bool = True) -> dict[str, dg.ConfigurableResource]:
    return {"encoder": TextEncoderResource(encoder=configured("encoder", env_vars),
                                           batch_size=configured("encoder_batch_size", env_vars))}


@dg.definitions
def defs() -> dg.Definitions:
    return dg.Definitions(resources=leads_resources())
