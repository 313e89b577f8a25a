/*
 * cdc_pipeline.c: what a restarting connector reads of its own pipeline:
 * the latest offset of each key, the schema history in insertion order,
 * and whether it has any.
 */
#include "postgres.h"

#include "access.h"
#include "args.h"
#include "json_out.h"
#include "spi.h"

#include "catalog/pg_type.h"
#include "utils/builtins.h"

/*
 * The routes that read one pipeline: (tenant, pipeline_name).  Fills
 * values with $1 tenant, $2 pipeline_name and returns the name.
 */
static char *
pipeline_args(FunctionCallInfo fcinfo, NilusRight right, Datum *values)
{
	char	   *tenant = nilus_arg_tenant_for(fcinfo, right);
	char	   *pipeline_name = nilus_arg_name(fcinfo, "pipeline_name");

	values[0] = CStringGetTextDatum(tenant);
	values[1] = CStringGetTextDatum(pipeline_name);
	return pipeline_name;
}

/* {"pipeline_name": ..., <items_key>: [every row of plan]} */
static Datum
pipeline_rows(FunctionCallInfo fcinfo, NilusRight right, NilusPlan *plan, const char *items_key)
{
	Datum		values[2];
	char	   *pipeline_name = pipeline_args(fcinfo, right, values);
	NilusJson	js;

	nj_init(&js);
	nilus_spi_connect();
	nilus_execute(plan, values, NULL, true, 0);
	nj_begin_object(&js);
	nj_key(&js, "pipeline_name");
	nj_string(&js, pipeline_name);
	nj_key(&js, items_key);
	nj_begin_array(&js);
	for (uint64 i = 0; i < SPI_processed; i++)
		nj_row(&js, SPI_tuptable->vals[i], SPI_tuptable->tupdesc);
	nj_end_array(&js);
	nj_end_object(&js);
	SPI_finish();
	return nj_result(&js);
}

PG_FUNCTION_INFO_V1(nilus_get_offsets);

/* Reads the kept latest records: the cost is the number of keys, not the history. */
Datum
nilus_get_offsets(PG_FUNCTION_ARGS)
{
	static NilusPlan latest = {
		"SELECT offset_key, offset_val, connector_name, record_insert_ts "
		"FROM nilus.cdc_offset_latest WHERE tenant = $1 AND pipeline_name = $2 "
		"ORDER BY offset_key",
		2, {TEXTOID, TEXTOID}
	};

	PG_RETURN_DATUM(pipeline_rows(fcinfo, NILUS_RIGHT_OF(get_offsets), &latest, "offsets"));
}

PG_FUNCTION_INFO_V1(nilus_get_schema_history);

Datum
nilus_get_schema_history(PG_FUNCTION_ARGS)
{
	static NilusPlan history = {
		"SELECT id, history_data, record_insert_ts, record_insert_seq "
		"FROM nilus.cdc_schema_history WHERE tenant = $1 AND pipeline_name = $2 "
		"ORDER BY record_insert_seq",
		2, {TEXTOID, TEXTOID}
	};

	PG_RETURN_DATUM(pipeline_rows(fcinfo, NILUS_RIGHT_OF(get_schema_history), &history, "records"));
}

PG_FUNCTION_INFO_V1(nilus_schema_history_exists);

Datum
nilus_schema_history_exists(PG_FUNCTION_ARGS)
{
	static NilusPlan exists = {
		"SELECT EXISTS (SELECT 1 FROM nilus.cdc_schema_history "
		"               WHERE tenant = $1 AND pipeline_name = $2)",
		2, {TEXTOID, TEXTOID}
	};
	Datum		values[2];
	char	   *pipeline_name = pipeline_args(fcinfo, NILUS_RIGHT_OF(schema_history_exists), values);
	bool		isnull;
	NilusJson	js;

	nj_init(&js);
	nilus_spi_connect();
	nilus_execute(&exists, values, NULL, true, 1);
	nj_begin_object(&js);
	nj_key(&js, "pipeline_name");
	nj_string(&js, pipeline_name);
	nj_key(&js, "exists");
	nj_bool(&js, DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull)));
	nj_end_object(&js);
	SPI_finish();
	PG_RETURN_DATUM(nj_result(&js));
}
