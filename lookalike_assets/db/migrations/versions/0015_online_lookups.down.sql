DROP INDEX IF EXISTS leads_email_normalized_idx;
