-- name: active_audiences
select audience_id, name, seed_set, rules, metadata, status
from lookalike_audience where tenant_id = :tenant_id and status <> 'retired' order by name;

-- name: suppressed_lead_ids
-- Leads suppressed by id or by the SHA-256 of their normalized email.
select s.lead_id from suppression_list s where s.tenant_id = :tenant_id and s.lead_id is not null
union
select l.lead_id from leads l
join suppression_list s on s.tenant_id = l.tenant_id
 and s.email_sha256 = encode(sha256(convert_to(lower(btrim(l.email)), 'UTF8')), 'hex')
where l.tenant_id = :tenant_id and l.email is not null;
