-- Embedded JSON values (a run's records and metadata, a pipeline's state)
-- are written as compactly as the answer around them, not with jsonb's own
-- spacing ({"a": 1, "b": 2}); every string keeps each character and every
-- number each digit.  CDC offsets and schema-history data are strings, kept
-- as the client sent them.
BEGIN;
\ir lib/helpers.psql
SELECT plan(15);

-- The answer's text with its strings taken out: what is left is JSON's punctuation.
CREATE FUNCTION pg_temp.punctuation(answer json) RETURNS text LANGUAGE sql AS
$$ SELECT regexp_replace(answer::text, '"(\\.|[^"\\])*"', '""', 'g') $$;

CREATE TEMP TABLE state_case (label text, state text, written text);
INSERT INTO state_case VALUES
    ('an object', '{"b": [1, 2.50, -0.0, 1e3, 12345678901234567890.123456789], "a": 1,
                    "c": {"f": false, "e": true, "d": null}}',
     '{"a":1,"b":[1,2.50,0.0,1000,12345678901234567890.123456789],"c":{"d":null,"e":true,"f":false}}'),
    ('strings with JSON punctuation and escapes',
     '{"k, ey: x": "x, y: {z}", "q": "a \"quoted\" \\ back\tslash", "u": "\u00e9 \u2713 \u0001"}',
     U&'{"q":"a \"quoted\" \\ back\tslash","u":"!00E9 !2713 \u0001","k, ey: x":"x, y: {z}"}' UESCAPE '!'),
    ('an empty object and array', '{"o": {}, "a": []}', '{"a":[],"o":{}}'),
    ('a string', '"a, b: c"', '"a, b: c"'),
    ('a number', '3.14159265358979323846264338327950288', '3.14159265358979323846264338327950288'),
    ('true', 'true', 'true'),
    ('an array of arrays', '[[1, [2, [3]]], {"x": [true, false]}]', '[[1,[2,[3]]],{"x":[true,false]}]');

-- get_state writes the state as the text after "state": up to the answer's next key.
CREATE FUNCTION pg_temp.state_text(pipeline text) RETURNS text LANGUAGE sql AS $$
    SELECT substring(nilus.get_state('acme', pipeline)::text FROM '"state":(.*),"run_id":')
$$;

SELECT is(count(*), 7::bigint, 'seven states stored')
  FROM (SELECT nilus.store_state('acme', 'compact-' || md5(label), jsonb_build_object('state', state::jsonb))
          FROM state_case) AS stored;
SELECT is(pg_temp.state_text('compact-' || md5(label)), written, 'get_state: ' || label || ', compact')
  FROM state_case ORDER BY label;

SELECT is((SELECT count(*) FROM state_case
            WHERE (nilus.get_state('acme', 'compact-' || md5(label))::jsonb -> 'state') IS DISTINCT FROM state::jsonb),
          0::bigint, 'get_state: every state reads back as the same JSON value');

-- A run's records and metadata, in every answer that carries them.
SELECT lives_ok($$SELECT nilus.store_run('acme', '{"run_id": "71000000-0000-0000-0000-000000000001",
                    "resource_id": "compact-res", "pipeline_name": "compact", "started_at": "2026-11-28T10:00:00Z",
                    "finished_at": "2026-11-28T10:01:00Z", "is_success": true,
                    "records": {"extracted": 10, "loaded": 9.50},
                    "metadata": {"source": "pg, main: 1", "tags": ["a", "b"]}, "extra": {"n": 1.0}}')$$,
                'a run with records and metadata');
SELECT is(pg_temp.punctuation(answer) ~ '[,:] ', false, name || ': no spacing after , or :')
  FROM (VALUES
          ('store_run', nilus.store_run('acme', '{"run_id": "71000000-0000-0000-0000-000000000001",
               "resource_id": "compact-res", "pipeline_name": "compact", "started_at": "2026-11-28T10:00:00Z",
               "finished_at": "2026-11-28T10:01:00Z", "is_success": true,
               "records": {"extracted": 10, "loaded": 9.50},
               "metadata": {"source": "pg, main: 1", "tags": ["a", "b"]}, "extra": {"n": 1.0}}')),
          ('list_pipelines', nilus.list_pipelines('acme', resource_id => 'compact-res')),
          ('list_runs', nilus.list_runs('acme', 'compact-res')),
          ('get_state', nilus.get_state('acme', 'compact-' || md5('an object')))) AS a(name, answer);
SELECT ok(nilus.list_runs('acme', 'compact-res')::text
              LIKE '%"records":{"loaded":9.50,"extracted":10}%"metadata":{"tags":["a","b"],"extra":{"n":1.0},"source":"pg, main: 1"}%',
          'list_runs: records and metadata compact, 9.50 and 1.0 with their digits, strings as sent');

SELECT * FROM finish();
ROLLBACK;
