/*
 * json_out.c: response bodies written straight into a buffer.
 *
 * Timestamps are rendered as RFC 3339 in UTC whatever the session's TimeZone,
 * with fractional seconds only when they are not zero; jsonb values are
 * written compact, like the rest.
 */
#include "postgres.h"

#include "json_out.h"
#include "time_range.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "common/shortest_dec.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/numeric.h"

void
nj_init(NilusJson *js)
{
	initStringInfo(&js->buf);
	js->need_comma = false;
}

/* A value is about to be written: separate it from the previous one. */
static void
before_value(NilusJson *js)
{
	if (js->need_comma)
		appendStringInfoChar(&js->buf, ',');
	js->need_comma = true;
}

void
nj_begin_object(NilusJson *js)
{
	before_value(js);
	appendStringInfoChar(&js->buf, '{');
	js->need_comma = false;
}

void
nj_end_object(NilusJson *js)
{
	appendStringInfoChar(&js->buf, '}');
	js->need_comma = true;
}

void
nj_begin_array(NilusJson *js)
{
	before_value(js);
	appendStringInfoChar(&js->buf, '[');
	js->need_comma = false;
}

void
nj_end_array(NilusJson *js)
{
	appendStringInfoChar(&js->buf, ']');
	js->need_comma = true;
}

void
nj_key(NilusJson *js, const char *key)
{
	before_value(js);
	escape_json(&js->buf, key);
	appendStringInfoChar(&js->buf, ':');
	js->need_comma = false;
}

void
nj_null(NilusJson *js)
{
	before_value(js);
	appendStringInfoString(&js->buf, "null");
}

void
nj_string(NilusJson *js, const char *value)
{
	if (value == NULL)
	{
		nj_null(js);
		return;
	}
	before_value(js);
	escape_json(&js->buf, value);
}

void
nj_text_datum(NilusJson *js, Datum value, bool isnull)
{
	nj_string(js, isnull ? NULL : TextDatumGetCString(value));
}

void
nj_int64(NilusJson *js, int64 value)
{
	before_value(js);
	appendStringInfo(&js->buf, INT64_FORMAT, value);
}

void
nj_float8(NilusJson *js, double value)
{
	char		digits[DOUBLE_SHORTEST_DECIMAL_LEN];

	if (isnan(value) || isinf(value))
	{
		nj_null(js);
		return;
	}
	before_value(js);
	double_to_shortest_decimal_buf(value, digits);
	appendStringInfoString(&js->buf, digits);
}

void
nj_numeric_datum(NilusJson *js, Datum value, bool isnull)
{
	if (isnull)
	{
		nj_null(js);
		return;
	}
	before_value(js);
	appendStringInfoString(&js->buf, DatumGetCString(DirectFunctionCall1(numeric_out, value)));
}

void
nj_bool(NilusJson *js, bool value)
{
	before_value(js);
	appendStringInfoString(&js->buf, value ? "true" : "false");
}

void
nj_timestamptz(NilusJson *js, TimestampTz value)
{
	struct pg_tm tm;
	fsec_t		fsec;

	/* Only rows stored before 0.3.0 can be outside: the tables' checks refuse them since. */
	if (!nilus_renderable(value) || timestamp2tm(value, NULL, &tm, &fsec, NULL, NULL) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("a stored timestamp lies outside the years 0001 to 9999 and cannot be written as RFC 3339"),
				 errhint("Correct the row; the README says how to find such rows.")));
	before_value(js);
	appendStringInfo(&js->buf, "\"%04d-%02d-%02dT%02d:%02d:%02d",
					 tm.tm_year, tm.tm_mon, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
	if (fsec != 0)
	{
		char		fraction[8];
		int			len;

		snprintf(fraction, sizeof(fraction), "%06d", (int) fsec);
		for (len = 6; fraction[len - 1] == '0'; len--)
			;
		appendStringInfo(&js->buf, ".%.*s", len, fraction);
	}
	appendStringInfoString(&js->buf, "Z\"");
}

/* A jsonb string (not NUL-terminated; jsonb has no \u0000) as a JSON string or key. */
static void
jsonb_string(NilusJson *js, const JsonbValue *v, bool key)
{
	char	   *text = pnstrdup(v->val.string.val, v->val.string.len);

	if (key)
		nj_key(js, text);
	else
		nj_string(js, text);
	pfree(text);
}

static void
jsonb_scalar(NilusJson *js, const JsonbValue *v)
{
	switch (v->type)
	{
		case jbvNull:
			nj_null(js);
			break;
		case jbvString:
			jsonb_string(js, v, false);
			break;
		case jbvNumeric:
			nj_numeric_datum(js, NumericGetDatum(v->val.numeric), false);
			break;
		case jbvBool:
			nj_bool(js, v->val.boolean);
			break;
		default:
			elog(ERROR, "nilus: unexpected jsonb value type %d", (int) v->type);
	}
}

/*
 * Compact, as the rest of the answer: JsonbToCString would write jsonb's
 * own spacing ({"a": 1, "b": 2}).  Strings and numbers are written as
 * JsonbToCString writes them (escape_json, numeric_out), so values keep
 * every character and digit.
 */
void
nj_jsonb_datum(NilusJson *js, Datum value, bool isnull)
{
	Jsonb	   *jb;
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken token;
	bool		raw_scalar = false;	/* a scalar document is stored as a one-element array */

	if (isnull)
	{
		nj_null(js);
		return;
	}
	jb = DatumGetJsonbP(value);
	it = JsonbIteratorInit(&jb->root);
	while ((token = JsonbIteratorNext(&it, &v, false)) != WJB_DONE)
	{
		switch (token)
		{
			case WJB_BEGIN_OBJECT:
				nj_begin_object(js);
				break;
			case WJB_END_OBJECT:
				nj_end_object(js);
				break;
			case WJB_BEGIN_ARRAY:
				raw_scalar = v.val.array.rawScalar;
				if (!raw_scalar)
					nj_begin_array(js);
				break;
			case WJB_END_ARRAY:
				if (!raw_scalar)
					nj_end_array(js);
				raw_scalar = false;
				break;
			case WJB_KEY:
				jsonb_string(js, &v, true);
				break;
			case WJB_VALUE:
			case WJB_ELEM:
				jsonb_scalar(js, &v);
				break;
			case WJB_DONE:
				break;
		}
	}
}

void
nj_uuid_datum(NilusJson *js, Datum value, bool isnull)
{
	nj_string(js, isnull ? NULL : DatumGetCString(DirectFunctionCall1(uuid_out, value)));
}

void
nj_end_page(NilusJson *js, int64 limit, int64 offset, int64 total)
{
	nj_end_array(js);
	nj_key(js, "limit");
	nj_int64(js, limit);
	nj_key(js, "offset");
	nj_int64(js, offset);
	nj_key(js, "total");
	nj_int64(js, total);
	nj_end_object(js);
}

void
nj_column(NilusJson *js, HeapTuple tuple, TupleDesc desc, const char *attname)
{
	int			attno = SPI_fnumber(desc, attname);
	bool		isnull;
	Datum		value;

	if (attno <= 0)
		elog(ERROR, "nilus: query has no column \"%s\"", attname);
	value = SPI_getbinval(tuple, desc, attno, &isnull);
	nj_key(js, attname);
	if (isnull)
	{
		nj_null(js);
		return;
	}
	switch (SPI_gettypeid(desc, attno))
	{
		case TEXTOID:
			nj_text_datum(js, value, false);
			break;
		case UUIDOID:
			nj_uuid_datum(js, value, false);
			break;
		case TIMESTAMPTZOID:
			nj_timestamptz(js, DatumGetTimestampTz(value));
			break;
		case INT8OID:
			nj_int64(js, DatumGetInt64(value));
			break;
		case INT4OID:
			nj_int64(js, DatumGetInt32(value));
			break;
		case BOOLOID:
			nj_bool(js, DatumGetBool(value));
			break;
		case FLOAT8OID:
			nj_float8(js, DatumGetFloat8(value));
			break;
		case NUMERICOID:
			nj_numeric_datum(js, value, false);
			break;
		case JSONBOID:
			nj_jsonb_datum(js, value, false);
			break;
		default:
			elog(ERROR, "nilus: column \"%s\" has a type json_out does not write", attname);
	}
}

void
nj_row(NilusJson *js, HeapTuple tuple, TupleDesc desc)
{
	nj_begin_object(js);
	for (int i = 0; i < desc->natts; i++)
		nj_column(js, tuple, desc, NameStr(TupleDescAttr(desc, i)->attname));
	nj_end_object(js);
}

Datum
nj_result(NilusJson *js)
{
	return PointerGetDatum(cstring_to_text_with_len(js->buf.data, js->buf.len));
}
