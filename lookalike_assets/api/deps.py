"""What the routes depend on: the service's shared state (the connection pool, the text encoder, the Dagster
instance, the catalog caches), a connection for the request, and the tenant its credentials are for."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import psycopg
from fastapi import Depends, Request
from fastapi import Path as PathParam
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from psycopg_pool import ConnectionPool

from lookalike_assets.api.errors import ApiError
from lookalike_assets.db.connect import API_ROLE, configure_connection, service_url, tenant_transaction
from lookalike_assets.db.queries import Q
from lookalike_assets.domain.apikeys import hash_key, looks_like_key


class Services:
    """The state one API process shares between requests, made once by ``create_app``."""

    def __init__(self, owner_url: str, *, encoder=None, instance=None, pool_timeout: float = 10.0) -> None:
        from lookalike_assets.domain.describe import VectorCache
        from lookalike_assets.pipeline.describe import CatalogCache

        self.owner_url = owner_url
        # a plan per call: a generic plan (a parameter for the tenant) could not use a tenant's partial ANN index
        self.pool = ConnectionPool(service_url(API_ROLE, owner_url), min_size=4, max_size=8, open=False,
                                   timeout=pool_timeout, kwargs={"autocommit": True},
                                   configure=lambda conn: configure_connection(conn, custom_plans=True))
        self._encoder = encoder
        self._instance = instance
        self.catalog_vectors = VectorCache()  # a tenant's catalog encoded once, not on every draft
        self.catalogs = CatalogCache()  # and read from the database at most once a minute
        self._per_thread = threading.local()
        self._making_instance = threading.Lock()  # one at a time: a new instance may create its storage's schema

    @contextmanager
    def connection(self) -> Iterator[psycopg.Connection]:
        if self.pool.closed:
            self.pool.open()
        with self.pool.connection() as conn:
            yield conn

    def encoder(self) -> Any:
        if self._encoder is None:
            from lookalike_assets.domain.encoder_choice import get_encoder
            from lookalike_assets.settings import get_settings

            self._encoder = get_encoder(get_settings().encoder)
        return self._encoder

    def dagster(self) -> Any:
        """The Dagster instance of this worker thread, made on its first use: an instance's storage (SQLite by
        default) holds objects that must stay in the thread that made them. A given ``instance`` is shared."""
        if self._instance is not None:
            return self._instance
        if getattr(self._per_thread, "instance", None) is None:
            from lookalike_assets.orchestration import get_instance

            with self._making_instance:
                self._per_thread.instance = get_instance()
        return self._per_thread.instance


def services(request: Request) -> Services:
    return request.app.state.services


ServicesDep = Annotated[Services, Depends(services)]


def connection(svc: ServicesDep) -> Iterator[psycopg.Connection]:
    """A pooled connection of the ``lookalike_api`` login for the request (tenant work runs in
    ``tenant_transaction``s on it)."""
    with svc.connection() as conn:
        yield conn


Conn = Annotated[psycopg.Connection, Depends(connection)]

bearer_scheme = HTTPBearer(auto_error=False, scheme_name="bearer", description="`Authorization: Bearer <key>`: an "
                           "API key (from `lookalike access grant --kind api`) or, where configured, a JWT of the "
                           "host platform's identity provider with the tenant in a claim")
header_scheme = APIKeyHeader(name="X-API-Key", auto_error=False, scheme_name="apiKey",
                             description="an API key in `X-API-Key`")


def credential(request: Request,
               bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)] = None,
               header_key: Annotated[str | None, Depends(header_scheme)] = None) -> str:
    """The request's API key (or token), else a 401."""
    key = bearer.credentials.strip() if bearer is not None else header_key
    if not key:
        raise ApiError(401, "unauthenticated", "an API key is required (Authorization: Bearer <key>)")
    return key


def tenant(tenant_id: Annotated[str, PathParam(max_length=100, description="the tenant's id or slug")],
           key: Annotated[str, Depends(credential)], conn: Conn) -> uuid.UUID:
    """The tenant of the path, when the key is that tenant's (401 for no key or an unknown one, 403 for another
    tenant's)."""
    if not looks_like_key(key):
        raise ApiError(401, "invalid_key", "the API key is not valid")
    owner = conn.execute("select lookalike_api_key_tenant(%s)", (hash_key(key),)).fetchone()[0]
    if owner is None:
        raise ApiError(401, "invalid_key", "the API key is not valid or was revoked")
    return same_tenant(conn, owner, tenant_id, "key")


def same_tenant(conn: psycopg.Connection, owner: uuid.UUID, tenant_id: str, what: str) -> uuid.UUID:
    """``owner`` when the path's ``tenant_id`` (its id or slug) is that tenant, else a 403 that names the tenant
    the credential is for (its own, never the one asked for: a key's id and a tenant's are easy to confuse)."""
    try:
        wanted: uuid.UUID | None = uuid.UUID(tenant_id)
    except ValueError:
        wanted = None  # a slug: the credential's own tenant's is accepted
    if wanted == owner:
        return owner
    with tenant_transaction(conn, owner, API_ROLE):
        own = Q.tenants.get_tenant(conn, tenant_id=owner)
    if wanted is None and own is not None and tenant_id == own.slug:
        return owner
    raise ApiError(403, "forbidden", f"this {what} is not for that tenant: it is for tenant "
                   f"{own.slug if own else ''!r} ({owner})")


Tenant = Annotated[uuid.UUID, Depends(tenant)]
