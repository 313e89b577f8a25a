/*
 * result_rows.c: a set-returning SQL function's rows, copied from the SPI
 * result into a tuplestore in the query's memory, so that they outlive
 * SPI_finish (the materialize mode, which works the same on PostgreSQL 14
 * to 18).
 */
#include "postgres.h"

#include "result_rows.h"

#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/tuplestore.h"

void
nilus_return_spi_rows(FunctionCallInfo fcinfo)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	TupleDesc	declared;
	Tuplestorestate *store;
	MemoryContext old;
	Datum	   *values;
	bool	   *nulls;

	if (rsinfo == NULL || !IsA(rsinfo, ReturnSetInfo) ||
		!(rsinfo->allowedModes & SFRM_Materialize))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("nilus: this function returns a set and must be called in FROM")));
	if (get_call_result_type(fcinfo, NULL, &declared) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "nilus: a set-returning function must return a row type");
	if (declared->natts != SPI_tuptable->tupdesc->natts)
		elog(ERROR, "nilus: the statement returns %d columns, the function %d",
			 SPI_tuptable->tupdesc->natts, declared->natts);
	for (int i = 0; i < declared->natts; i++)
		if (TupleDescAttr(declared, i)->atttypid != TupleDescAttr(SPI_tuptable->tupdesc, i)->atttypid)
			elog(ERROR, "nilus: column %d of the statement is not of the function's type", i + 1);

	old = MemoryContextSwitchTo(rsinfo->econtext->ecxt_per_query_memory);
	store = tuplestore_begin_heap(true, false, work_mem);
	rsinfo->returnMode = SFRM_Materialize;
	rsinfo->setResult = store;
	rsinfo->setDesc = CreateTupleDescCopy(declared);
	MemoryContextSwitchTo(old);

	values = palloc(sizeof(Datum) * declared->natts);
	nulls = palloc(sizeof(bool) * declared->natts);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		heap_deform_tuple(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, values, nulls);
		tuplestore_putvalues(store, rsinfo->setDesc, values, nulls);
	}
}
