"""`lookalike destinations`: where a tenant's audiences are synced (Meta, a webhook...), by name."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from lookalike_assets.cli.common import TenantOpt, console, fail, tenant

app = typer.Typer(help="Destinations: the ad platforms (and webhooks) a tenant's audiences are synced to.",
                  no_args_is_help=True)

NameArg = Annotated[str, typer.Argument(help="The destination's name (or id).")]
TokenFile = Annotated[Optional[Path], typer.Option("--token-file", help="Meta, LinkedIn: a file holding the access token "
                                                   "(read once, sealed in the database; never give it inline).")]
SecretFile = Annotated[Optional[Path], typer.Option("--secret-file", help="Webhook: a file holding the signing "
                                                    "secret.")]
AdAccount = Annotated[Optional[str], typer.Option("--ad-account", help="Meta: the ad account, act_<id>; "
                                                  "LinkedIn: the sponsored ad account's number.")]
Url = Annotated[Optional[str], typer.Option("--url", help="Webhook: where the batches are POSTed.")]
Bucket = Annotated[Optional[str], typer.Option("--bucket", help="S3: the bucket.")]
Prefix = Annotated[Optional[str], typer.Option("--prefix", help="S3: the key prefix the audiences' folders go under.")]
Endpoint = Annotated[Optional[str], typer.Option("--endpoint-url", help="S3: an S3-compatible service's address "
                                                 "(MinIO, R2, ...); AWS when not given.")]
Region = Annotated[Optional[str], typer.Option("--region", help="S3: the bucket's region.")]
AccessKey = Annotated[Optional[str], typer.Option("--access-key-id", help="S3: the access key id.")]
SecretKeyFile = Annotated[Optional[Path], typer.Option("--secret-key-file", help="S3: a file holding the secret "
                                                       "access key.")]
CustomerId = Annotated[Optional[str], typer.Option("--customer-id", help="Google Ads: the customer id (123-456-7890).")]
LoginCustomer = Annotated[Optional[str], typer.Option("--login-customer-id", help="Google Ads: the manager account "
                                                      "the access goes through, if any.")]
DevTokenFile = Annotated[Optional[Path], typer.Option("--developer-token-file", help="Google Ads: a file holding the "
                                                      "developer token.")]
OAuthClientFile = Annotated[Optional[Path], typer.Option("--oauth-client-file", help="Google Ads: the OAuth client "
                                                         "JSON as Google's console downloads it (client_id, "
                                                         "client_secret).")]
RefreshTokenFile = Annotated[Optional[Path], typer.Option("--refresh-token-file", help="Google Ads: a file holding "
                                                          "the OAuth refresh token.")]
ApiBase = Annotated[Optional[str], typer.Option("--api-base-url", help="Another address of the platform's API (a "
                                                "proxy, or a local stand-in); part of this destination only.")]


def _read(path: Path | None, what: str) -> str | None:
    if path is None:
        return None
    try:
        value = path.read_text().strip()
    except OSError as exc:
        fail(f"{what}: cannot read {path}: {exc.strerror}")
    if not value:
        fail(f"{what}: {path} is empty")
    return value


def _oauth_client(path: Path | None) -> dict[str, str]:
    """client_id and client_secret from an OAuth client file (Google's download: {"installed": {...}} or
    {"web": {...}}, or the two keys at the top)."""
    import json

    text = _read(path, "--oauth-client-file")
    if text is None:
        return {}
    try:
        data = json.loads(text)
    except ValueError:
        fail(f"--oauth-client-file: {path} is not JSON")
    data = data.get("installed") or data.get("web") or data
    return {"client_id": str(data.get("client_id") or ""), "client_secret": str(data.get("client_secret") or "")}


def _given(*, token_file: Path | None, secret_file: Path | None, secret_key_file: Path | None,
           developer_token_file: Path | None, oauth_client_file: Path | None, refresh_token_file: Path | None,
           access_key_id: str | None, **options: str | None) -> tuple[dict[str, str], dict[str, str]]:
    """The options and the credentials (read from their files) given on the command line, by the names the
    destinations use; what was not given is left out (an empty option value stays: it removes the option)."""
    credentials = {"access_token": _read(token_file, "--token-file"),
                   "signing_secret": _read(secret_file, "--secret-file"),
                   "access_key_id": access_key_id,
                   "secret_access_key": _read(secret_key_file, "--secret-key-file"),
                   "developer_token": _read(developer_token_file, "--developer-token-file"),
                   "refresh_token": _read(refresh_token_file, "--refresh-token-file"),
                   **_oauth_client(oauth_client_file)}
    return ({k: v for k, v in options.items() if v is not None}, {k: v for k, v in credentials.items() if v})


def _secret() -> str:
    from lookalike_assets.settings import get_settings

    return get_settings().secret_value()


def _admin(call):
    from lookalike_assets.db.admin import AdminError

    try:
        return call()
    except AdminError as exc:
        fail(str(exc))


@app.command("add")
def destinations_add(
    name: Annotated[str, typer.Argument(help="A name people recognize, e.g. 'Meta main'.")],
    tenant_ref: TenantOpt,
    platform: Annotated[str, typer.Option(help="meta | google | linkedin | webhook | s3.")],
    ad_account: AdAccount = None,
    token_file: TokenFile = None,
    url: Url = None,
    secret_file: SecretFile = None,
    bucket: Bucket = None,
    prefix: Prefix = None,
    endpoint_url: Endpoint = None,
    region: Region = None,
    access_key_id: AccessKey = None,
    secret_key_file: SecretKeyFile = None,
    customer_id: CustomerId = None,
    login_customer_id: LoginCustomer = None,
    developer_token_file: DevTokenFile = None,
    oauth_client_file: OAuthClientFile = None,
    refresh_token_file: RefreshTokenFile = None,
    api_base_url: ApiBase = None,
) -> None:
    """Add a destination; its credentials are sealed (encrypted with a key from LOOKALIKE_SECRET) and only the
    pipeline reads them. `destinations test NAME` then makes a real call."""
    from lookalike_assets.db.connect import APP_ROLE, service_connection
    from lookalike_assets.domain.destinations import CREDENTIALS, OPTIONS
    from lookalike_assets.pipeline.destinations import add_destination

    given, secrets = _given(ad_account=ad_account, url=url, bucket=bucket, prefix=prefix, endpoint_url=endpoint_url,
                            region=region, customer_id=customer_id, login_customer_id=login_customer_id,
                            api_base_url=api_base_url, access_key_id=access_key_id, token_file=token_file,
                            secret_file=secret_file, secret_key_file=secret_key_file,
                            developer_token_file=developer_token_file, oauth_client_file=oauth_client_file,
                            refresh_token_file=refresh_token_file)
    # the platform's own options; each of its credentials, an empty one named as missing by add_destination
    options = {k: v for k, v in given.items() if k in OPTIONS.get(platform, ())}
    credentials = {k: secrets.get(k, "") for k in CREDENTIALS.get(platform, ())}
    with service_connection(APP_ROLE) as conn:
        tid = tenant(tenant_ref)
        did = _admin(lambda: add_destination(conn, tid, name, platform, options, credentials, _secret()))
    console.print(f"destination {name!r} ({platform}) added: {did}")
    console.print(f"name it in an audience's rules: \"destinations\": [{{\"destination\": \"{name}\"}}]")


@app.command("list")
def destinations_list(tenant_ref: TenantOpt) -> None:
    """The tenant's destinations, their state and their last sync (never their credentials)."""
    from lookalike_assets.db.connect import APP_ROLE, service_connection
    from lookalike_assets.pipeline.destinations import list_destinations

    table = Table("name", "platform", "where", "state", "last sync")
    with service_connection(APP_ROLE) as conn:
        rows = list_destinations(conn, tenant(tenant_ref))
    for d in rows:
        o = d["options"] or {}
        where = o.get("ad_account") or o.get("url") or ""
        if o.get("api_base_url"):
            where += f" via {o['api_base_url']}"
        state = d["status"] if d["status"] == "active" else f"paused: {d['paused_reason']}"
        last = "never" if d["last_status"] is None else (
            f"{d['last_status']}, +{d['last_added']} -{d['last_removed']}"
            + (f" ({d['last_error']})" if d["last_error"] else ""))
        table.add_row(d["name"], d["platform"], where, state, last)
    console.print(table)


@app.command("test")
def destinations_test(name: NameArg, tenant_ref: TenantOpt) -> None:
    """A real authenticated call to the platform with the destination's credentials."""
    from lookalike_assets.db.connect import PIPELINE_ROLE, service_connection
    from lookalike_assets.domain.destinations import DestinationError
    from lookalike_assets.pipeline.destinations import test_destination

    with service_connection(PIPELINE_ROLE) as conn:
        tid = tenant(tenant_ref)
        try:
            reached = _admin(lambda: test_destination(conn, tid, name, _secret()))
        except DestinationError as exc:
            fail(f"{name}: {exc}", 1)
    console.print(f"{name}: reached {reached}")


@app.command("update")
def destinations_update(
    name: NameArg,
    tenant_ref: TenantOpt,
    new_name: Annotated[Optional[str], typer.Option("--name", help="A new name.")] = None,
    ad_account: AdAccount = None,
    token_file: TokenFile = None,
    url: Url = None,
    secret_file: SecretFile = None,
    bucket: Bucket = None,
    prefix: Prefix = None,
    endpoint_url: Endpoint = None,
    region: Region = None,
    access_key_id: AccessKey = None,
    secret_key_file: SecretKeyFile = None,
    customer_id: CustomerId = None,
    login_customer_id: LoginCustomer = None,
    developer_token_file: DevTokenFile = None,
    oauth_client_file: OAuthClientFile = None,
    refresh_token_file: RefreshTokenFile = None,
    api_base_url: ApiBase = None,
    resume: Annotated[bool, typer.Option("--resume", help="Resume a paused destination.")] = False,
) -> None:
    """Rename, change options or credentials (all of a platform's, together), or resume a destination paused
    after failed syncs. An empty option value ("") removes it."""
    from lookalike_assets.db.connect import APP_ROLE, service_connection
    from lookalike_assets.pipeline.destinations import update_destination

    options, credentials = _given(
        ad_account=ad_account, url=url, bucket=bucket, prefix=prefix, endpoint_url=endpoint_url, region=region,
        customer_id=customer_id, login_customer_id=login_customer_id, api_base_url=api_base_url,
        access_key_id=access_key_id, token_file=token_file, secret_file=secret_file, secret_key_file=secret_key_file,
        developer_token_file=developer_token_file, oauth_client_file=oauth_client_file,
        refresh_token_file=refresh_token_file)
    if not (new_name or options or credentials or resume):
        fail("nothing to change: give --name, an option, new credentials or --resume")
    with service_connection(APP_ROLE) as conn:
        tid = tenant(tenant_ref)
        d = _admin(lambda: update_destination(conn, tid, name, _secret(), name=new_name, options=options or None,
                                              credentials=credentials or None, resume=resume))
    console.print(f"destination {d.name!r} updated ({d.status})")


@app.command("remove")
def destinations_remove(name: NameArg, tenant_ref: TenantOpt) -> None:
    """Forget a destination and its sync history (the platform keeps the audiences it received)."""
    from lookalike_assets.db.connect import APP_ROLE, service_connection
    from lookalike_assets.pipeline.destinations import remove_destination

    with service_connection(APP_ROLE) as conn:
        tid = tenant(tenant_ref)
        gone = _admin(lambda: remove_destination(conn, tid, name))
    console.print(f"destination {gone!r} removed")


@app.command("sync")
def destinations_sync(
    name: NameArg,
    tenant_ref: TenantOpt,
    batch_size: Annotated[Optional[int], typer.Option(min=1, help="Members per request (at most the platform's "
                                                                   "limit).")] = None,
) -> None:
    """Sync now every published audience whose rules name this destination (what the refresh does after the
    memberships). Exits 1 if any sync failed."""
    from lookalike_assets.db.connect import PIPELINE_ROLE, service_connection
    from lookalike_assets.defs.resources import current_config
    from lookalike_assets.pipeline.destinations import sync_tenant

    cfg = current_config()
    with service_connection(PIPELINE_ROLE) as conn:
        tid = tenant(tenant_ref)
        results = _admin(lambda: sync_tenant(
            conn, tid, _secret(), only=name, attempts=cfg.destination_attempts,
            backoff=cfg.destination_backoff_seconds, pause_after=cfg.destination_pause_after,
            batch_size=batch_size or cfg.destination_batch_size))
    print_syncs(results)
    if any(r.status == "failed" for r in results):
        raise typer.Exit(1)


def print_syncs(results) -> None:
    if not results:
        console.print("no published audience names this destination in its rules")
        return
    table = Table("audience", "destination", "status", "added", "removed", "batches", "platform received", "note")
    for r in results:
        note = r.error or (f"{r.unmatched} member(s) without an email the platform can match" if r.unmatched else "")
        if r.paused:
            note = ("paused: " + note) if note else "paused"
        table.add_row(r.audience, r.destination, r.status, str(r.added), str(r.removed), str(r.batches),
                      "—" if r.received is None else str(r.received), note)
    console.print(table)
