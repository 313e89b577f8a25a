/*
 * body.c: reading request bodies.  A POST route's body arrives as jsonb; each
 * field is checked for presence and type here so that the error names it.
 */
#include "postgres.h"

#include "args.h"
#include "body.h"
#include "errors.h"

#include "utils/builtins.h"

char *
nilus_field_name(const char *where, const char *key)
{
	return strcmp(where, "body") == 0 ? pstrdup(key) : psprintf("%s.%s", where, key);
}

JsonbContainer *
nilus_arg_body(FunctionCallInfo fcinfo)
{
	int			argno = nilus_argno(fcinfo, "body");
	Jsonb	   *body;

	if (PG_ARGISNULL(argno))
		nilus_invalid("body", "body is required");
	body = PG_GETARG_JSONB_P(argno);
	if (!JB_ROOT_IS_OBJECT(body))
		nilus_invalid("body", "body must be a JSON object");
	return &body->root;
}

static bool
key_listed(const char *key, int keylen, const char *const *list)
{
	for (; *list != NULL; list++)
		if ((int) strlen(*list) == keylen && strncmp(*list, key, keylen) == 0)
			return true;
	return false;
}

/* "a, b, c" */
static char *
joined(const char *const *list)
{
	StringInfoData text;

	initStringInfo(&text);
	for (; *list != NULL; list++)
		appendStringInfo(&text, "%s%s", text.len > 0 ? ", " : "", *list);
	return text.data;
}

static void
reject_unknown_fields(JsonbContainer *obj, const char *where, const char *const *known)
{
	JsonbIterator *it = JsonbIteratorInit(obj);
	JsonbValue	v;
	JsonbIteratorToken token;

	while ((token = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		if (token == WJB_KEY && !key_listed(v.val.string.val, v.val.string.len, known))
		{
			char	   *field = pnstrdup(v.val.string.val, v.val.string.len);

			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("%s has an unknown field \"%s\"", where, field),
					 errhint("The fields of %s are: %s.", where, joined(known)),
					 nilus_errparameter(nilus_field_name(where, field))));
		}
	}
}

static void
require_fields(JsonbContainer *obj, const char *where, const char *const *required)
{
	StringInfoData missing;
	const char *first = NULL;
	JsonbValue	value;

	initStringInfo(&missing);
	for (; *required != NULL; required++)
	{
		if (nilus_object_get(obj, *required, &value) != NULL)
			continue;
		appendStringInfo(&missing, "%s%s", first ? ", " : "", *required);
		if (first == NULL)
			first = *required;
	}
	if (first != NULL)
		nilus_invalid(nilus_field_name(where, first), "%s is missing required field(s): %s",
					  where, missing.data);
}

void
nilus_object_check(JsonbContainer *obj, const char *where,
				   const char *const *known, const char *const *required)
{
	if (known != NULL)
		reject_unknown_fields(obj, where, known);
	if (required != NULL)
		require_fields(obj, where, required);
}

JsonbValue *
nilus_object_get(JsonbContainer *obj, const char *key, JsonbValue *out)
{
	JsonbValue *found = getKeyJsonValueFromContainer(obj, key, strlen(key), out);

	return (found == NULL || found->type == jbvNull) ? NULL : found;
}

static void
wrong_type(const char *where, const char *key, const char *expected)
{
	char	   *field = nilus_field_name(where, key);

	nilus_invalid(field, "%s must be %s", field, expected);
}

char *
nilus_object_string(JsonbContainer *obj, const char *key, const char *where)
{
	JsonbValue	value;

	if (nilus_object_get(obj, key, &value) == NULL)
		return NULL;
	if (value.type != jbvString)
		wrong_type(where, key, "a string");
	return pnstrdup(value.val.string.val, value.val.string.len);
}

bool
nilus_object_bool(JsonbContainer *obj, const char *key, const char *where, bool *out)
{
	JsonbValue	value;

	if (nilus_object_get(obj, key, &value) == NULL)
		return false;
	if (value.type != jbvBool)
		wrong_type(where, key, "true or false");
	*out = value.val.boolean;
	return true;
}

JsonbContainer *
nilus_object_array(JsonbContainer *obj, const char *key, const char *where)
{
	JsonbValue	value;

	if (nilus_object_get(obj, key, &value) == NULL)
		return NULL;
	if (value.type != jbvBinary || !JsonContainerIsArray(value.val.binary.data))
		wrong_type(where, key, "an array");
	return value.val.binary.data;
}

bool
nilus_object_uuid(JsonbContainer *obj, const char *key, const char *where, pg_uuid_t *out)
{
	char	   *text = nilus_object_string(obj, key, where);
	MemoryContext context = CurrentMemoryContext;

	if (text == NULL)
		return false;
	PG_TRY();
	{
		*out = *DatumGetUUIDP(DirectFunctionCall1(uuid_in, CStringGetDatum(text)));
	}
	PG_CATCH();
	{
		char	   *field;

		MemoryContextSwitchTo(context);
		FlushErrorState();
		field = nilus_field_name(where, key);
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errmsg("%s must be a UUID, not \"%s\"", field, text),
				 nilus_errparameter(field)));
	}
	PG_END_TRY();
	return true;
}

JsonbContainer *
nilus_array_object(JsonbContainer *array, int i, const char *where)
{
	JsonbValue *element = getIthJsonbValueFromContainer(array, i);

	if (element == NULL || element->type != jbvBinary ||
		!JsonContainerIsObject(element->val.binary.data))
		nilus_invalid(psprintf("%s[%d]", where, i), "%s[%d] must be a JSON object", where, i);
	return element->val.binary.data;
}
