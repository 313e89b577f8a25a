/*
 * state.c: the versioned state a pipeline resumes from.
 *
 * Versions are handed out by nilus.pipeline_state_head, one row per pipeline:
 * concurrent posts queue on that row and each leaves with the next number, so
 * none of them fails with a conflict and no number is given twice.
 */
#include "postgres.h"

#include "access.h"
#include "args.h"
#include "body.h"
#include "errors.h"
#include "json_out.h"
#include "spi.h"

#include "catalog/pg_type.h"
#include "utils/builtins.h"

static const char *const state_fields[] = {"state", "run_id", "is_success", NULL};
static const char *const required_state_fields[] = {"state", NULL};

static NilusPlan insert_state = {
	"WITH head AS ("
	"  INSERT INTO nilus.pipeline_state_head AS h (tenant, pipeline_name, last_version) "
	"  VALUES ($1, $2, 1) "
	"  ON CONFLICT (tenant, pipeline_name) DO UPDATE SET last_version = h.last_version + 1 "
	"  RETURNING last_version) "
	"INSERT INTO nilus.pipeline_state (tenant, pipeline_name, version, state, run_id, is_success) "
	"SELECT $1, $2, last_version, $3, $4, $5 FROM head "
	"RETURNING pipeline_name, version, created_at",
	5, {TEXTOID, TEXTOID, JSONBOID, TEXTOID, BOOLOID}
};

/* Only successful states are indexed, so this reads one index entry. */
static NilusPlan latest_state = {
	"SELECT pipeline_name, version, state, run_id, created_at FROM nilus.pipeline_state "
	"WHERE tenant = $1 AND pipeline_name = $2 AND is_success "
	"ORDER BY version DESC LIMIT 1",
	2, {TEXTOID, TEXTOID}
};

/* The state as given: any JSON value but null (required means present). */
static Jsonb *
state_value(JsonbContainer *body)
{
	JsonbValue	value;

	nilus_object_get(body, "state", &value);
	return JsonbValueToJsonb(&value);
}

PG_FUNCTION_INFO_V1(nilus_store_state);

Datum
nilus_store_state(PG_FUNCTION_ARGS)
{
	char	   *tenant = nilus_arg_tenant_for(fcinfo, NILUS_RIGHT_OF(store_state));
	JsonbContainer *body;
	char	   *run_id;
	bool		is_success = true;
	Datum		values[5];
	char		nulls[5] = {' ', ' ', ' ', ' ', ' '};
	NilusJson	js;

	values[1] = CStringGetTextDatum(nilus_arg_name(fcinfo, "pipeline_name"));
	body = nilus_arg_body(fcinfo);
	nilus_object_check(body, "body", state_fields, required_state_fields);
	run_id = nilus_object_string(body, "run_id", "body");
	if (run_id != NULL)
		nilus_check_name(run_id, "run_id");
	nilus_object_bool(body, "is_success", "body", &is_success);

	values[0] = CStringGetTextDatum(tenant);
	values[2] = PointerGetDatum(state_value(body));
	values[3] = run_id ? CStringGetTextDatum(run_id) : (Datum) 0;
	nulls[3] = run_id ? ' ' : 'n';
	values[4] = BoolGetDatum(is_success);

	nj_init(&js);
	nilus_spi_connect();
	nilus_execute(&insert_state, values, nulls, false, 0);
	nj_row(&js, SPI_tuptable->vals[0], SPI_tuptable->tupdesc);
	SPI_finish();
	PG_RETURN_DATUM(nj_result(&js));
}

PG_FUNCTION_INFO_V1(nilus_get_state);

Datum
nilus_get_state(PG_FUNCTION_ARGS)
{
	char	   *tenant = nilus_arg_tenant_for(fcinfo, NILUS_RIGHT_OF(get_state));
	char	   *pipeline_name = nilus_arg_name(fcinfo, "pipeline_name");
	Datum		values[2];
	NilusJson	js;

	values[0] = CStringGetTextDatum(tenant);
	values[1] = CStringGetTextDatum(pipeline_name);

	nj_init(&js);
	nilus_spi_connect();
	nilus_execute(&latest_state, values, NULL, true, 1);
	if (SPI_processed == 0)
		nilus_not_found(NULL, "no successful state for pipeline \"%s\"", pipeline_name);
	nj_row(&js, SPI_tuptable->vals[0], SPI_tuptable->tupdesc);
	SPI_finish();
	PG_RETURN_DATUM(nj_result(&js));
}
