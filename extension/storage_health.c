/*
 * storage_health.c: the health of a tenant's CDC state storage.  Each table
 * answers an index probe for the tenant's newest record, which is cheap
 * whatever the history and tells when the storage was last written.  A
 * standby in recovery answers but cannot store.
 */
#include "postgres.h"

#include "access.h"
#include "args.h"
#include "json_out.h"
#include "spi.h"

#include "access/xlog.h"
#include "catalog/pg_type.h"
#include "portability/instr_time.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

static void
probe_storage(NilusJson *js, const char *key, NilusPlan *plan, Datum *tenant)
{
	instr_time	start;
	instr_time	elapsed;
	bool		isnull;
	bool		found;

	INSTR_TIME_SET_CURRENT(start);
	nilus_execute(plan, tenant, NULL, true, 1);
	INSTR_TIME_SET_CURRENT(elapsed);
	INSTR_TIME_SUBTRACT(elapsed, start);
	found = SPI_processed == 1;

	nj_key(js, key);
	nj_begin_object(js);
	nj_key(js, "status");
	nj_string(js, "ok");
	nj_key(js, "latency_ms");
	nj_float8(js, INSTR_TIME_GET_MILLISEC(elapsed));
	nj_key(js, "last_record_insert_ts");
	if (found)
		nj_timestamptz(js, DatumGetTimestampTz(SPI_getbinval(SPI_tuptable->vals[0],
															 SPI_tuptable->tupdesc, 1, &isnull)));
	else
		nj_null(js);
	nj_end_object(js);
}

PG_FUNCTION_INFO_V1(nilus_storage_health);

Datum
nilus_storage_health(PG_FUNCTION_ARGS)
{
	static NilusPlan newest_offset = {
		"SELECT record_insert_ts FROM nilus.cdc_offset WHERE tenant = $1 "
		"ORDER BY record_insert_seq DESC LIMIT 1",
		1, {TEXTOID}
	};
	static NilusPlan newest_history = {
		"SELECT record_insert_ts FROM nilus.cdc_schema_history WHERE tenant = $1 "
		"ORDER BY record_insert_seq DESC LIMIT 1",
		1, {TEXTOID}
	};
	char	   *tenant = nilus_arg_tenant_for(fcinfo, NILUS_RIGHT_OF(storage_health));
	Datum		tenant_datum = CStringGetTextDatum(tenant);
	bool		writable = !RecoveryInProgress();
	NilusJson	js;

	nj_init(&js);
	nilus_spi_connect();
	nj_begin_object(&js);
	nj_key(&js, "status");
	nj_string(&js, writable ? "ok" : "read_only");
	nj_key(&js, "tenant");
	nj_string(&js, tenant);
	nj_key(&js, "writable");
	nj_bool(&js, writable);
	probe_storage(&js, "offset_storage", &newest_offset, &tenant_datum);
	probe_storage(&js, "schema_history_storage", &newest_history, &tenant_datum);
	nj_key(&js, "checked_at");
	nj_timestamptz(&js, GetCurrentTimestamp());
	nj_end_object(&js);
	SPI_finish();
	PG_RETURN_DATUM(nj_result(&js));
}
