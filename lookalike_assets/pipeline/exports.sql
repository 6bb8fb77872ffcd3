-- name: published_audiences
select a.audience_id, a.name, a.rules from lookalike_audience a
where a.tenant_id = :tenant_id and a.status = 'published' order by a.name;

-- name: export_members
-- Members of one audience with the identifiers the platforms match on (never logged); the holdout's control arm
-- is never exported.
select c.lead_id, l.external_id, c.audience_id, a.name as audience, c.similarity_score, c.rank_score, c.decile,
       c.reasons, l.email, l.phone, l.first_name, l.last_name, l.country, l.title, l.company,
       l.attributes->>'zip' as zip
from lookalike_audience_member m
join lookalike_candidate c on c.tenant_id = m.tenant_id and c.candidate_id = m.candidate_id
join leads l on l.tenant_id = c.tenant_id and l.lead_id = c.lead_id
join lookalike_audience a on a.tenant_id = m.tenant_id and a.audience_id = m.audience_id
where m.tenant_id = :tenant_id and m.audience_id = :audience_id and m.arm = 'treatment'
order by coalesce(c.rank_score, c.similarity_score) desc, c.lead_id;

-- name: segment_member_leads
-- The lead of every member of one audience's segments (for exports per segment), the treatment arm only.
select s.segment_no, c.lead_id
from lookalike_segment_member s
join lookalike_audience_member m
  on m.tenant_id = s.tenant_id and m.audience_id = s.audience_id and m.candidate_id = s.candidate_id
join lookalike_candidate c on c.tenant_id = s.tenant_id and c.candidate_id = s.candidate_id
where s.tenant_id = :tenant_id and s.audience_id = :audience_id and m.arm = 'treatment';

-- name: start_export_job$
insert into lookalike_export_job (tenant_id, audience_id, destination, format, run_id, segment_no)
values (:tenant_id, :audience_id, :destination, :format, :run_id, :segment_no)
returning export_job_id;

-- name: export_job_attempt!
update lookalike_export_job set attempts = :attempts, error = :error
where tenant_id = :tenant_id and export_job_id = :export_job_id;

-- name: finish_export_job!
update lookalike_export_job
set status = :status, attempts = :attempts, file = :file, row_count = :row_count, content_sha256 = :sha,
    error = :error, note = :note, finished_at = now()
where tenant_id = :tenant_id and export_job_id = :export_job_id;

-- name: mark_members_exported!
-- The members were shown to a platform: candidate statuses move on, and the exposure history (what the ranking
-- learns from, kept whatever the pools become) records it. The control arm was not shown.
with marked as (
  update lookalike_candidate c set status = 'exported'
  from lookalike_audience_member m
  where m.tenant_id = c.tenant_id and m.candidate_id = c.candidate_id and m.arm = 'treatment'
    and c.tenant_id = :tenant_id and m.audience_id = :audience_id and c.status in ('pending', 'accepted')
  returning 1
)
insert into lookalike_exposure as x (tenant_id, audience_id, lead_id)
select m.tenant_id, m.audience_id, c.lead_id
from lookalike_audience_member m
join lookalike_candidate c on c.tenant_id = m.tenant_id and c.candidate_id = m.candidate_id
where m.tenant_id = :tenant_id and m.audience_id = :audience_id and m.arm = 'treatment'
on conflict (tenant_id, audience_id, lead_id) do update set
  last_exported_at = now(), exports = x.exports + 1;

-- name: pending_api_exports
-- Export jobs the API was asked for in the last day (read by lookalike_changes: ids and the platform only); the
-- sensor starts one run per job (its run key), so a job seen twice runs once.
select tenant_id, job_id, audience_id, platform, created_at from lookalike_pending_api_exports();

-- name: api_export_job^
select job_id, audience_id, platform, created_at from lookalike_api_job
where tenant_id = :tenant_id and job_id = :job_id and kind = 'export';

-- name: export_results
-- What the exports of one run did (the API's export job reads them back).
select audience_id, format, status, row_count, file, error from lookalike_export_job
where tenant_id = :tenant_id and run_id = :run_id and segment_no is null order by format;
