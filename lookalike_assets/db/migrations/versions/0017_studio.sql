-- The studio: people of one tenant who sign in to the web app. Owner-only tables, like the API keys: the API's
-- login signs people in and resolves their sessions through definer functions, and works on the tenant's data
-- as lookalike_api inside the person's tenant transaction, exactly as for an API key.

CREATE TABLE lookalike_studio_user (
  user_id       uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  tenant_id     uuid NOT NULL REFERENCES tenants (tenant_id) ON DELETE CASCADE,
  name          text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
  role          text NOT NULL CHECK (role IN ('viewer', 'editor')),
  created_at    timestamptz NOT NULL DEFAULT now(),
  revoked_at    timestamptz,
  UNIQUE (tenant_id, user_id)
);
CREATE UNIQUE INDEX lookalike_studio_user_name_idx ON lookalike_studio_user (tenant_id, lower(name))
  WHERE revoked_at IS NULL;
REVOKE ALL ON lookalike_studio_user FROM PUBLIC;
SELECT lookalike_protect_table('lookalike_studio_user');
COMMENT ON TABLE lookalike_studio_user IS
  'People of one tenant who use the studio (lookalike access grant --kind studio), with their role.';

-- One-time sign-in links (SHA-256 of 256 random bits) and sessions (likewise): hashes only.
CREATE TABLE lookalike_studio_link (
  tenant_id     uuid NOT NULL,
  user_id       uuid NOT NULL,
  link_hash     text PRIMARY KEY CHECK (link_hash ~ '^[0-9a-f]{64}$'),
  created_at    timestamptz NOT NULL DEFAULT now(),
  expires_at    timestamptz NOT NULL,
  used_at       timestamptz,
  FOREIGN KEY (tenant_id, user_id) REFERENCES lookalike_studio_user (tenant_id, user_id) ON DELETE CASCADE
);
CREATE INDEX lookalike_studio_link_user_idx ON lookalike_studio_link (tenant_id, user_id);
REVOKE ALL ON lookalike_studio_link FROM PUBLIC;
SELECT lookalike_protect_table('lookalike_studio_link');

CREATE TABLE lookalike_studio_session (
  tenant_id     uuid NOT NULL,
  user_id       uuid NOT NULL,
  session_hash  text PRIMARY KEY CHECK (session_hash ~ '^[0-9a-f]{64}$'),
  created_at    timestamptz NOT NULL DEFAULT now(),
  expires_at    timestamptz NOT NULL,
  FOREIGN KEY (tenant_id, user_id) REFERENCES lookalike_studio_user (tenant_id, user_id) ON DELETE CASCADE
);
CREATE INDEX lookalike_studio_session_user_idx ON lookalike_studio_session (tenant_id, user_id);
REVOKE ALL ON lookalike_studio_session FROM PUBLIC;
SELECT lookalike_protect_table('lookalike_studio_session');

-- A link used once, before it expires, by a person not revoked, becomes a session; NULL otherwise.
CREATE OR REPLACE FUNCTION lookalike_studio_sign_in(p_link_hash text, p_session_hash text, p_seconds integer)
RETURNS uuid
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, public AS $fn$
DECLARE l record;
BEGIN
  UPDATE public.lookalike_studio_link k SET used_at = now()
  FROM public.lookalike_studio_user u
  WHERE k.link_hash = p_link_hash AND k.used_at IS NULL AND k.expires_at > now()
    AND u.tenant_id = k.tenant_id AND u.user_id = k.user_id AND u.revoked_at IS NULL
  RETURNING k.tenant_id, k.user_id INTO l;
  IF NOT FOUND THEN
    RETURN NULL;
  END IF;
  INSERT INTO public.lookalike_studio_session (tenant_id, user_id, session_hash, expires_at)
  VALUES (l.tenant_id, l.user_id, p_session_hash, now() + make_interval(secs => p_seconds));
  RETURN l.user_id;
END
$fn$;

-- The person behind a live session (nothing for an unknown, expired or signed-out one, or a revoked person).
CREATE OR REPLACE FUNCTION lookalike_studio_session_user(p_session_hash text)
RETURNS TABLE (tenant_id uuid, user_id uuid, name text, role text, slug text, tenant_name text)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $fn$
  SELECT u.tenant_id, u.user_id, u.name, u.role, t.slug, t.name
  FROM public.lookalike_studio_session s
  JOIN public.lookalike_studio_user u ON u.tenant_id = s.tenant_id AND u.user_id = s.user_id
  JOIN public.tenants t ON t.tenant_id = u.tenant_id
  WHERE s.session_hash = p_session_hash AND s.expires_at > now() AND u.revoked_at IS NULL
$fn$;

CREATE OR REPLACE FUNCTION lookalike_studio_sign_out(p_session_hash text) RETURNS void
LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, public AS $fn$
  DELETE FROM public.lookalike_studio_session WHERE session_hash = p_session_hash
$fn$;

REVOKE ALL ON FUNCTION lookalike_studio_sign_in(text, text, integer) FROM PUBLIC;
REVOKE ALL ON FUNCTION lookalike_studio_session_user(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION lookalike_studio_sign_out(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION lookalike_studio_sign_in(text, text, integer) TO lookalike_api;
GRANT EXECUTE ON FUNCTION lookalike_studio_session_user(text) TO lookalike_api;
GRANT EXECUTE ON FUNCTION lookalike_studio_sign_out(text) TO lookalike_api;
