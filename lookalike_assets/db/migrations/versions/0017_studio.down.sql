DROP FUNCTION IF EXISTS lookalike_studio_sign_in(text, text, integer);
DROP FUNCTION IF EXISTS lookalike_studio_session_user(text);
DROP FUNCTION IF EXISTS lookalike_studio_sign_out(text);
DROP TABLE IF EXISTS lookalike_studio_session, lookalike_studio_link, lookalike_studio_user;
