DROP TABLE IF EXISTS lookalike_api_job;
DROP FUNCTION IF EXISTS lookalike_api_key_tenant(text);
DROP TABLE IF EXISTS lookalike_api_key;
