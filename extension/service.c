/*
 * service.c: the service-level functions, health and info, which name no
 * tenant.
 */
#include "postgres.h"

#include "access.h"
#include "json_out.h"
#include "spi.h"

#include "catalog/pg_type.h"
#include "utils/builtins.h"
#include "utils/guc.h"

/* The version of the extension installed in this database (the SQL objects). */
static char *
installed_version(void)
{
	static NilusPlan version = {
		"SELECT extversion FROM pg_catalog.pg_extension WHERE extname = 'nilus'", 0, {InvalidOid}
	};

	nilus_execute(&version, NULL, NULL, true, 1);
	return SPI_processed == 1 ? SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1) : NULL;
}

PG_FUNCTION_INFO_V1(nilus_health);

Datum
nilus_health(PG_FUNCTION_ARGS)
{
	NilusJson	js;

	nilus_require_access(NULL, NILUS_RIGHT_OF(health));
	nj_init(&js);
	nilus_spi_connect();
	nj_begin_object(&js);
	nj_key(&js, "status");
	nj_string(&js, "ok");
	nj_key(&js, "database");
	nj_string(&js, "ok");
	nj_key(&js, "extension_version");
	nj_string(&js, installed_version());
	nj_key(&js, "checked_at");
	nj_timestamptz(&js, GetCurrentTransactionStartTimestamp());
	nj_end_object(&js);
	SPI_finish();
	PG_RETURN_DATUM(nj_result(&js));
}

PG_FUNCTION_INFO_V1(nilus_info);

Datum
nilus_info(PG_FUNCTION_ARGS)
{
	NilusJson	js;

	nilus_require_access(NULL, NILUS_RIGHT_OF(info));
	nj_init(&js);
	nilus_spi_connect();
	nj_begin_object(&js);
	nj_key(&js, "service");
	nj_string(&js, "nilus-manager");
	nj_key(&js, "version");
	nj_string(&js, NILUS_VERSION);
	nj_key(&js, "extension_version");
	nj_string(&js, installed_version());
	nj_key(&js, "build");
	nj_begin_object(&js);
	nj_key(&js, "library_version");
	nj_string(&js, NILUS_VERSION);
	nj_key(&js, "postgresql_compiled");
	nj_string(&js, PG_VERSION);
	nj_key(&js, "postgresql_running");
	nj_string(&js, GetConfigOption("server_version", false, false));
	nj_end_object(&js);
	nj_end_object(&js);
	SPI_finish();
	PG_RETURN_DATUM(nj_result(&js));
}
