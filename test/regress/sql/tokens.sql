-- Tokens: created (the plaintext shown once), authenticated, revoked.
CREATE TEMP TABLE token AS
  SELECT nilus.create_token('acme', ARRAY['read'], 'regress-reader') AS plaintext;
SELECT plaintext ~ '^nilus_[0-9a-f]{64}$' AS looks_like_a_token FROM token;
BEGIN;
SELECT nilus.authenticate(plaintext) FROM token;
-- The token reads acme, and nothing of globex.
SELECT nilus.list_pipelines('acme')::jsonb -> 'total' AS acme_runs;
SELECT nilus.list_pipelines('globex');
ROLLBACK;
BEGIN;
SELECT nilus.authenticate(plaintext) FROM token;
-- A read token cannot write.
SELECT nilus.store_state('acme', 'p', '{"state": 1}');
ROLLBACK;
SELECT nilus.revoke_token('regress-reader');
SELECT nilus.authenticate(plaintext) FROM token;
