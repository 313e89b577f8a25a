-- API tokens: plaintext shown once, only its SHA-256 at rest; authenticate
-- refuses unknown, revoked and expired tokens (28000); a token acts only for
-- its tenant (42501) and with its rights (read: listings and stats; runtime:
-- the /pipeline routes and storage health); an admin token (tenant NULL)
-- acts for every tenant.
BEGIN;
\ir lib/helpers.psql
SELECT plan(133);

SELECT nilus.create_token('acme', ARRAY['read'], 'tok02-acme-read') AS acme_read \gset
SELECT nilus.create_token('acme', ARRAY['runtime'], 'tok02-acme-runtime') AS acme_runtime \gset
SELECT nilus.create_token('globex', ARRAY['read', 'runtime'], 'tok02-globex-all') AS globex_all \gset
SELECT nilus.create_token(NULL, ARRAY['runtime', 'read'], 'tok02-admin') AS admin \gset
SELECT nilus.create_token('acme', ARRAY['read'], 'tok02-expired', now() - interval '1 second') AS expired \gset
SELECT nilus.create_token('acme', ARRAY['read'], 'tok02-expires-now', now()) AS expires_now \gset
SELECT nilus.create_token('acme', ARRAY['read'], 'tok02-expires-later', now() + interval '1 hour') AS expires_later \gset
SELECT nilus.create_token('acme', ARRAY['read'], 'tok02-revoked') AS revoked \gset

-- The plaintext: shown once, never stored.
SELECT matches(tok, '^nilus_[0-9a-f]{64}$', 'token ' || label || ' is nilus_<64 hex>')
  FROM (VALUES (:'acme_read', 'acme_read'), (:'acme_runtime', 'acme_runtime'),
               (:'globex_all', 'globex_all'), (:'admin', 'admin')) AS t(tok, label);
SELECT is((SELECT count(DISTINCT tok) FROM unnest(ARRAY[:'acme_read', :'acme_runtime', :'globex_all',
                                                      :'admin', :'expired', :'expires_now',
                                                      :'expires_later', :'revoked']) AS tok),
          8::bigint, 'every token is different');
SELECT is((SELECT token_hash FROM nilus.api_token WHERE label = label_),
          sha256(convert_to(tok, 'UTF8')), 'api_token keeps the SHA-256 of ' || label_)
  FROM (VALUES (:'acme_read', 'tok02-acme-read'), (:'admin', 'tok02-admin'),
               (:'expired', 'tok02-expired')) AS t(tok, label_);
SELECT is((SELECT count(*) FROM nilus.api_token WHERE length(token_hash) <> 32), 0::bigint,
          'every stored hash is 32 bytes');
SELECT is((SELECT count(*) FROM nilus.api_token t, unnest(ARRAY[:'acme_read', :'acme_runtime',
                                                               :'globex_all', :'admin']) AS tok
            WHERE t::text LIKE '%' || substr(tok, 7) || '%'
               OR encode(t.token_hash, 'hex') LIKE '%' || substr(tok, 7) || '%'
               OR encode(t.token_hash, 'escape') LIKE '%' || substr(tok, 7) || '%'),
          0::bigint, 'no plaintext token appears anywhere in nilus.api_token');
SELECT results_eq(
    $$SELECT label, tenant, rights, expires_at, revoked_at FROM nilus.api_token
       WHERE label IN ('tok02-acme-read', 'tok02-admin', 'tok02-expires-later') ORDER BY label$$,
    $$VALUES ('tok02-acme-read', 'acme', ARRAY['read'], NULL::timestamptz, NULL::timestamptz),
             ('tok02-admin', NULL, ARRAY['runtime', 'read'], NULL, NULL),
             ('tok02-expires-later', 'acme', ARRAY['read'], now() + interval '1 hour', NULL)$$,
    'scope, rights and expiry stored as given');

-- create_token rejects what cannot be a token, storing nothing.
SELECT pg_temp.rejects($$SELECT nilus.create_token('acme', ARRAY[]::text[], 'tok02-x')$$,
                       '22023 rights', 'create_token with no rights');
SELECT pg_temp.rejects($$SELECT nilus.create_token('acme', NULL, 'tok02-x')$$,
                       '22023 rights', 'create_token with rights NULL');
SELECT pg_temp.rejects($$SELECT nilus.create_token('acme', ARRAY['read', 'admin'], 'tok02-x')$$,
                       '22023 rights', 'create_token with an unknown right');
SELECT pg_temp.rejects($$SELECT nilus.create_token('acme', ARRAY[NULL::text], 'tok02-x')$$,
                       '22023 rights', 'create_token with a NULL right');
SELECT pg_temp.rejects($$SELECT nilus.create_token('acme', ARRAY['read'], '')$$,
                       '22023 label', 'create_token with an empty label');
SELECT pg_temp.rejects($$SELECT nilus.create_token('acme', ARRAY['read'], NULL)$$,
                       '22023 label', 'create_token with no label');
SELECT pg_temp.rejects($$SELECT nilus.create_token('globex', ARRAY['runtime'], 'tok02-acme-read')$$,
                       '23505 label', 'create_token with a label already used');
SELECT pg_temp.rejects($$SELECT nilus.create_token('ac/me', ARRAY['read'], 'tok02-x')$$,
                       '22023 tenant', 'create_token with a tenant that cannot be a path segment');
SELECT pg_temp.rejects($$SELECT nilus.create_token('', ARRAY['read'], 'tok02-x')$$,
                       '22023 tenant', 'create_token with an empty tenant');

-- Token administration is the owner's: neither the API role nor analysts.
CREATE ROLE tok02_api LOGIN IN ROLE nilus_api;
CREATE ROLE tok02_analyst LOGIN IN ROLE nilus_analyst;
SET LOCAL ROLE tok02_api;
SELECT pg_temp.rejects($$SELECT nilus.create_token(NULL, ARRAY['read'], 'tok02-sneaky')$$,
                       '42501', 'the API role cannot create tokens');
SELECT pg_temp.rejects($$SELECT nilus.revoke_token('tok02-admin')$$,
                       '42501', 'the API role cannot revoke tokens');
SELECT is(pg_temp.error_of($$SELECT * FROM nilus.api_token$$), '42501',
          'the API role cannot read the token table');
SET LOCAL ROLE tok02_analyst;
SELECT pg_temp.rejects($$SELECT nilus.create_token('acme', ARRAY['read'], 'tok02-sneaky')$$,
                       '42501', 'analysts cannot create tokens');
SELECT is(pg_temp.error_of($$SELECT * FROM nilus.api_token$$), '42501',
          'analysts cannot read the token table');
RESET ROLE;

-- Revocation.
SELECT is(nilus.revoke_token('tok02-revoked'), true, 'revoke_token revokes');
SELECT isnt((SELECT revoked_at FROM nilus.api_token WHERE label = 'tok02-revoked'), NULL,
            'revoked_at is set');
-- As if it had been revoked by an earlier transaction (now() is this one's).
UPDATE nilus.api_token SET revoked_at = now() - interval '1 minute' WHERE label = 'tok02-revoked';
SELECT is(nilus.revoke_token('tok02-revoked'), false, 'revoking again says it already was');
SELECT is((SELECT revoked_at FROM nilus.api_token WHERE label = 'tok02-revoked'), now() - interval '1 minute',
          'revoking again keeps the first revocation time');
SELECT pg_temp.rejects($$SELECT nilus.revoke_token('tok02-no-such-label')$$,
                       'P0002 label', 'revoke_token of an unknown label');

-- authenticate refuses what is not a live token (without acting for it).
SELECT pg_temp.raises(format('SELECT nilus.authenticate(%L)', tok), '28000', 'authenticate: ' || why)
  FROM (VALUES (:'revoked', 'revoked token'), (:'expired', 'expired token'),
               (:'expires_now', 'token whose expiry is now'),
               ('nilus_' || repeat('0', 64), 'unknown token'),
               (upper(:'acme_read'), 'token with its letters changed'),
               (:'acme_read' || ' ', 'token with a trailing space'),
               (substr(:'acme_read', 1, 69), 'truncated token'),
               ('', 'empty token'),
               (encode(sha256(convert_to(:'acme_read', 'UTF8')), 'hex'), 'the stored hash itself')) AS t(tok, why);

-- From here on each authenticate makes a token the transaction's identity.
SELECT pg_temp.run_body('02000000-0000-0000-0000-000000000001', 'res-a', now()) AS run_acme \gset
SELECT pg_temp.run_body('02000000-0000-0000-0000-000000000002', 'res-g', now()) AS run_globex \gset

SELECT is(nilus.authenticate(:'expires_later')::jsonb,
          '{"tenant": "acme", "rights": ["read"], "label": "tok02-expires-later"}',
          'a token whose expiry is in the future authenticates');

-- A read token of acme.
SELECT is(nilus.authenticate(:'acme_read')::jsonb,
          '{"tenant": "acme", "rights": ["read"], "label": "tok02-acme-read"}',
          'authenticate returns the token''s tenant, rights and label');
SELECT lives_ok(format('SELECT nilus.%s', call), 'acme read token may call ' || call)
  FROM unnest(ARRAY['health()', 'info()', $$list_pipelines('acme')$$, $$list_runs('acme', 'res-a')$$,
                    $$pipeline_stats('acme', 'res-a', '7d')$$, $$list_cdc_offsets('acme')$$,
                    $$list_cdc_schema_history('acme')$$]) AS call;
SELECT pg_temp.raises(format('SELECT nilus.%s', call), '42501 tenant', 'acme read token calling ' || call)
  FROM unnest(ARRAY[$$list_pipelines('globex')$$, $$list_runs('globex', 'res-a')$$,
                    $$pipeline_stats('globex', 'res-a')$$, $$list_cdc_offsets('globex')$$,
                    $$list_cdc_schema_history('globex')$$]) AS call;
SELECT pg_temp.rejects(format('SELECT nilus.%s', call), '42501', 'acme read token (no runtime right) calling ' || call)
  FROM unnest(ARRAY[format('store_run(%L, %L)', 'acme', :'run_acme'),
                    $$get_state('acme', 'p')$$,
                    $$store_state('acme', 'p', '{"state": 1}')$$,
                    $$get_offsets('acme', 'p')$$,
                    $$store_offsets('acme', 'p', '{"resource_id": "r", "connector_name": "c", "offsets": [{"offset_key": "k", "offset_val": "v"}]}')$$,
                    $$get_schema_history('acme', 'p')$$,
                    $$store_schema_history('acme', 'p', '{"resource_id": "r", "connector_name": "c", "records": [{"history_data": "{}"}]}')$$,
                    $$schema_history_exists('acme', 'p')$$,
                    $$storage_health('acme')$$]) AS call;

-- A runtime token of acme.
SELECT is(nilus.authenticate(:'acme_runtime')::jsonb,
          '{"tenant": "acme", "rights": ["runtime"], "label": "tok02-acme-runtime"}',
          'authenticate a runtime token');
SELECT pg_temp.raises(format('SELECT nilus.%s', call), '42501', 'acme runtime token (no read right) calling ' || call)
  FROM unnest(ARRAY['health()', 'info()', $$list_pipelines('acme')$$, $$list_runs('acme', 'res-a')$$,
                    $$pipeline_stats('acme', 'res-a')$$, $$list_cdc_offsets('acme')$$,
                    $$list_cdc_schema_history('acme')$$]) AS call;
SELECT is((nilus.store_run('acme', :'run_acme')::jsonb ->> 'created')::boolean, true,
          'acme runtime token stores a run for acme');
SELECT lives_ok(format('SELECT nilus.%s', call), 'acme runtime token may call ' || call)
  FROM unnest(ARRAY[$$store_state('acme', 'p', '{"state": 1}')$$, $$get_state('acme', 'p')$$,
                    $$store_offsets('acme', 'p', '{"resource_id": "r", "connector_name": "c", "offsets": [{"offset_key": "k", "offset_val": "v"}]}')$$,
                    $$get_offsets('acme', 'p')$$,
                    $$store_schema_history('acme', 'p', '{"resource_id": "r", "connector_name": "c", "records": [{"history_data": "{}"}]}')$$,
                    $$get_schema_history('acme', 'p')$$, $$schema_history_exists('acme', 'p')$$,
                    $$storage_health('acme')$$]) AS call;
SELECT pg_temp.rejects(format('SELECT nilus.%s', call), '42501 tenant', 'acme runtime token calling ' || call)
  FROM unnest(ARRAY[format('store_run(%L, %L)', 'globex', :'run_globex'),
                    $$get_state('globex', 'p')$$,
                    $$store_state('globex', 'p', '{"state": 1}')$$,
                    $$get_offsets('globex', 'p')$$,
                    $$store_offsets('globex', 'p', '{"resource_id": "r", "connector_name": "c", "offsets": [{"offset_key": "k", "offset_val": "v"}]}')$$,
                    $$get_schema_history('globex', 'p')$$,
                    $$store_schema_history('globex', 'p', '{"resource_id": "r", "connector_name": "c", "records": [{"history_data": "{}"}]}')$$,
                    $$schema_history_exists('globex', 'p')$$,
                    $$storage_health('globex')$$]) AS call;

-- A token of globex with both rights sees nothing of acme.
SELECT is(nilus.authenticate(:'globex_all')::jsonb,
          '{"tenant": "globex", "rights": ["read", "runtime"], "label": "tok02-globex-all"}',
          'authenticate a token with both rights');
SELECT pg_temp.raises($$SELECT nilus.list_pipelines('acme')$$, '42501 tenant',
                       'globex token listing acme');
SELECT pg_temp.rejects(format('SELECT nilus.store_run(%L, %L)', 'acme', :'run_acme'), '42501 tenant',
                       'globex token posting to acme');
SELECT is((nilus.store_run('globex', :'run_globex')::jsonb ->> 'created')::boolean, true,
          'globex token stores a run for globex');
SELECT is((nilus.list_pipelines('globex')::jsonb ->> 'total')::int, 1,
          'globex token lists globex');

-- An admin token acts for every tenant.
SELECT is(nilus.authenticate(:'admin')::jsonb,
          '{"tenant": null, "rights": ["read", "runtime"], "label": "tok02-admin"}',
          'authenticate an admin token: tenant null');
SELECT is((nilus.list_pipelines(t)::jsonb ->> 'total')::int, 1, 'admin token lists ' || t)
  FROM unnest(ARRAY['acme', 'globex']) AS t;
SELECT is((nilus.store_run('initech', pg_temp.run_body('02000000-0000-0000-0000-000000000003', 'res-i', now()))::jsonb
           ->> 'created')::boolean, true, 'admin token stores a run for any tenant');

-- A failed authenticate does not leave the caller with more than it had.
SELECT is(nilus.authenticate(:'acme_read')::jsonb ->> 'label', 'tok02-acme-read', 'back to the acme read token');
SELECT is(pg_temp.error_of(format('SELECT nilus.authenticate(%L)', :'revoked')), '28000',
          'a revoked token after a valid one is refused');
SELECT pg_temp.rejects(format('SELECT nilus.store_run(%L, %L)', 'acme', :'run_acme'), '42501',
                       'still only the read token''s rights after a refused token');

SELECT * FROM finish();
ROLLBACK;
