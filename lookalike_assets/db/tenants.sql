-- name: upsert_tenant<!
-- Admin connection: onboard or rename a tenant.
insert into tenants (tenant_id, slug, name)
values (:tenant_id, :slug, :name)
on conflict (tenant_id) do update set slug = excluded.slug, name = excluded.name
returning tenant_id;

-- name: list_tenants
-- Admin connection: every tenant with its lead count and settings.
select t.tenant_id::text as tenant_id, t.slug, t.name, t.created_at,
       (select count(*) from leads l where l.tenant_id = t.tenant_id) as leads, t.settings
from tenants t
order by t.slug;

-- name: tenant_counts^
-- Admin connection.
select (select count(*) from leads where tenant_id = :tenant_id) as leads,
       (select count(*) from lookalike_audience where tenant_id = :tenant_id) as audiences;

-- name: mark_tenant_temporary!
update tenants set settings = settings || jsonb_build_object('temporary', :what::text,
                                                             'temporary_pid', pg_backend_pid())
where tenant_id = :tenant_id;

-- name: tenant_logins
select role_name from lookalike_tenant_role where tenant_id = :tenant_id order by role_name;

-- name: terminate_sessions_of!
select pg_terminate_backend(pid) from pg_stat_activity where usename = :role and pid <> pg_backend_pid();

-- name: get_tenant^
select tenant_id::text as tenant_id, slug, name, settings from tenants where tenant_id = :tenant_id;

-- name: tenant_by_slug^
select tenant_id::text as tenant_id, slug, name from tenants where slug = :slug;

-- name: get_feature_spec$
select spec from tenant_feature_spec where tenant_id = :tenant_id;

-- name: save_feature_spec!
insert into tenant_feature_spec (tenant_id, spec, version)
values (:tenant_id, :spec, :version)
on conflict (tenant_id) do update set spec = excluded.spec, version = excluded.version, updated_at = now();

-- name: tenant_summary^
-- Run inside a tenant transaction.
select (select count(*) from leads where tenant_id = :tenant_id) as leads,
       (select count(*) from lead_embeddings where tenant_id = :tenant_id) as embedded,
       (select count(*) from lookalike_seed where tenant_id = :tenant_id and deleted_at is null) as seeds;

-- name: audience_summary
-- Per audience: status, pool size, members, and the formats of its latest successful exports.
select a.name, a.status,
       (select count(*) from lookalike_candidate c where c.tenant_id = a.tenant_id and c.audience_id = a.audience_id),
       (select count(*) from lookalike_audience_member m where m.tenant_id = a.tenant_id and m.audience_id = a.audience_id),
       (select string_agg(distinct j.format, ',' order by j.format) from lookalike_export_job j
         where j.tenant_id = a.tenant_id and j.audience_id = a.audience_id and j.status = 'succeeded')
from lookalike_audience a where a.tenant_id = :tenant_id order by a.name;

-- name: segment_summary
-- Per segmented audience, its segments (number, name, size), largest first; or why it has none.
select a.name,
       string_agg(s.segment_no || ' ' || s.name || ' (' || s.size || ')', ', ' order by s.segment_no) as segments,
       a.metadata -> 'segments' ->> 'skipped' as skipped
from lookalike_audience a
left join lookalike_audience_segment s on s.tenant_id = a.tenant_id and s.audience_id = a.audience_id
where a.tenant_id = :tenant_id and a.status = 'published'
group by a.name, a.metadata
order by a.name;

-- name: skipped_exports
-- Per audience and format, the latest export when it was skipped, with why (below a platform's minimum, ...).
select name, format, error from (
  select distinct on (j.audience_id, j.format) a.name, j.format, j.status, j.error
  from lookalike_export_job j join lookalike_audience a using (tenant_id, audience_id)
  where j.tenant_id = :tenant_id and a.status = 'published' and j.segment_no is null
  order by j.audience_id, j.format, j.started_at desc
) last where status = 'skipped' order by name, format;

-- name: insert_tenant_login!
insert into lookalike_tenant_role (role_name, tenant_id, kind, name) values (:role, :tenant_id, :kind, :name);

-- name: list_tenant_logins
select r.role_name::text, r.tenant_id::text, t.slug, r.kind, r.name, r.created_at
from lookalike_tenant_role r join tenants t using (tenant_id)
where :tenant_id::uuid is null or r.tenant_id = :tenant_id::uuid
order by t.slug, r.created_at;

-- name: delete_tenant_login!
delete from lookalike_tenant_role where role_name = :role;

-- name: insert_api_key^
insert into lookalike_api_key (tenant_id, name, key_hash) values (:tenant_id, :name, :key_hash)
returning key_id, created_at;

-- name: list_api_keys
select k.key_id, k.tenant_id, t.slug, k.name, k.created_at, k.last_used_at, k.revoked_at
from lookalike_api_key k join tenants t using (tenant_id)
where :tenant_id::uuid is null or k.tenant_id = :tenant_id::uuid
order by t.slug, k.created_at;

-- name: revoke_api_key^
update lookalike_api_key set revoked_at = coalesce(revoked_at, now()) where key_id::text = :key_id
returning key_id, tenant_id, name;

-- name: studio_user_by_name^
select user_id, role from lookalike_studio_user
where tenant_id = :tenant_id::uuid and lower(name) = lower(:name) and revoked_at is null;

-- name: insert_studio_user^
insert into lookalike_studio_user (tenant_id, name, role) values (:tenant_id, :name, :role)
returning user_id, created_at;

-- name: set_studio_role!
update lookalike_studio_user set role = :role where user_id = :user_id::uuid;

-- name: insert_studio_link!
insert into lookalike_studio_link (tenant_id, user_id, link_hash, expires_at)
values (:tenant_id, :user_id, :link_hash, now() + make_interval(hours => :hours));

-- name: list_studio_users
select u.user_id, u.tenant_id, t.slug, u.name, u.role, u.created_at, u.revoked_at,
       (select max(s.created_at) from lookalike_studio_session s
        where s.tenant_id = u.tenant_id and s.user_id = u.user_id) as last_sign_in
from lookalike_studio_user u join tenants t using (tenant_id)
where :tenant_id::uuid is null or u.tenant_id = :tenant_id::uuid
order by t.slug, u.created_at;

-- name: revoke_studio_user^
-- A person revoked: their sessions end at their next request, their unused links are void.
with u as (
  update lookalike_studio_user set revoked_at = coalesce(revoked_at, now()) where user_id::text = :user_id
  returning user_id, tenant_id
), s as (
  delete from lookalike_studio_session s using u where s.tenant_id = u.tenant_id and s.user_id = u.user_id
), l as (
  delete from lookalike_studio_link l using u where l.tenant_id = u.tenant_id and l.user_id = u.user_id
)
select user_id, tenant_id from u;
