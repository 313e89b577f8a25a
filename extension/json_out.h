/*
 * json_out.h: writing response bodies.  Every SQL function returns its
 * route's response body as json, written with these.
 */
#ifndef NILUS_JSON_OUT_H
#define NILUS_JSON_OUT_H

#include "access/htup.h"
#include "access/tupdesc.h"
#include "lib/stringinfo.h"
#include "utils/timestamp.h"

typedef struct NilusJson
{
	StringInfoData buf;
	bool		need_comma;		/* a value was written at this nesting level */
} NilusJson;

extern void nj_init(NilusJson *js);
extern void nj_begin_object(NilusJson *js);
extern void nj_end_object(NilusJson *js);
extern void nj_begin_array(NilusJson *js);
extern void nj_end_array(NilusJson *js);
extern void nj_key(NilusJson *js, const char *key);
extern void nj_string(NilusJson *js, const char *value);	/* NULL writes null */
extern void nj_text_datum(NilusJson *js, Datum value, bool isnull);
extern void nj_int64(NilusJson *js, int64 value);
extern void nj_float8(NilusJson *js, double value);
extern void nj_numeric_datum(NilusJson *js, Datum value, bool isnull);
extern void nj_bool(NilusJson *js, bool value);
extern void nj_null(NilusJson *js);
extern void nj_timestamptz(NilusJson *js, TimestampTz value);
extern void nj_jsonb_datum(NilusJson *js, Datum value, bool isnull);
extern void nj_uuid_datum(NilusJson *js, Datum value, bool isnull);
/* Ends a listing's array of items and its object, after "limit", "offset" and "total". */
extern void nj_end_page(NilusJson *js, int64 limit, int64 offset, int64 total);
/* Writes column `attname` of an SPI row under its own name, by its type. */
extern void nj_column(NilusJson *js, HeapTuple tuple, TupleDesc desc, const char *attname);
/* Writes an SPI row as an object, every column under its name. */
extern void nj_row(NilusJson *js, HeapTuple tuple, TupleDesc desc);
extern Datum nj_result(NilusJson *js);	/* the json datum to return */

#endif							/* NILUS_JSON_OUT_H */
