-- name: segment_audiences
-- Every audience with what its segments depend on: published ones are split, the others lose their segments.
select audience_id, name, status, rules, metadata -> 'segments' ->> 'input_hash' as input_hash
from lookalike_audience where tenant_id = :tenant_id order by name;

-- name: segment_members
-- One audience's members with their vectors, scores and the lead fields a segment's profile reads.
select c.candidate_id, c.lead_id, c.similarity_score, c.rank_score, e.embedding,
       l.industry, l.country, l.region, l.title, l.seniority, l.property_type, l.company_size, l.email_opens,
       l.web_visits, l.attributes
from lookalike_audience_member m
join lookalike_candidate c on c.tenant_id = m.tenant_id and c.candidate_id = m.candidate_id
join leads l on l.tenant_id = c.tenant_id and l.lead_id = c.lead_id
join lead_embeddings e on e.tenant_id = c.tenant_id and e.lead_id = c.lead_id
where m.tenant_id = :tenant_id and m.audience_id = :audience_id
order by c.lead_id;

-- name: member_fingerprint$
-- What the segments of an audience were built from: its members (by lead) and their vectors' versions.
select md5(coalesce(string_agg(c.lead_id::text || ':' || e.content_hash || ':' || e.model_version, ',' order by c.lead_id), ''))
from lookalike_audience_member m
join lookalike_candidate c on c.tenant_id = m.tenant_id and c.candidate_id = m.candidate_id
join lead_embeddings e on e.tenant_id = c.tenant_id and e.lead_id = c.lead_id
where m.tenant_id = :tenant_id and m.audience_id = :audience_id;

-- name: delete_segments!
delete from lookalike_audience_segment where tenant_id = :tenant_id and audience_id = :audience_id;

-- name: insert_segment!
insert into lookalike_audience_segment (tenant_id, audience_id, segment_no, name, size, share, mean_similarity,
                                        mean_rank_score, traits, profile)
values (:tenant_id, :audience_id, :segment_no, :name, :size, :share, :mean_similarity, :mean_rank_score, :traits,
        :profile);

-- name: insert_segment_members*!
-- (COPY does not go through Row-Level Security policies, so rows go in as INSERTs, sent in a pipeline.)
insert into lookalike_segment_member (tenant_id, audience_id, candidate_id, segment_no)
values (:tenant_id, :audience_id, :candidate_id, :segment_no);

-- name: record_segments!
update lookalike_audience set metadata = metadata || jsonb_build_object('segments', :info::jsonb)
where tenant_id = :tenant_id and audience_id = :audience_id;

-- name: audience_segments
-- The segments of one audience, largest first (what `audiences show`, the API and exports read).
select segment_no, name, size, share, mean_similarity, mean_rank_score, traits
from lookalike_audience_segment
where tenant_id = :tenant_id and audience_id = :audience_id
order by segment_no;

-- name: segment_member_ids
-- Candidate ids per segment of one audience.
select segment_no, candidate_id from lookalike_segment_member
where tenant_id = :tenant_id and audience_id = :audience_id;
