/*
 * body.h: reading request bodies, jsonb objects (nested ones too).  `where`
 * names the object in errors ("body", "offsets[2]"); a field's error names
 * "<where>.<key>" (or just the key for the top-level body) as the parameter.
 */
#ifndef NILUS_BODY_H
#define NILUS_BODY_H

#include "fmgr.h"
#include "utils/jsonb.h"
#include "utils/uuid.h"

/* The argument "body", which must be a JSON object. */
extern JsonbContainer *nilus_arg_body(FunctionCallInfo fcinfo);
/* known: NULL-terminated allowed keys, or NULL to allow any; required: NULL-terminated. */
extern void nilus_object_check(JsonbContainer *obj, const char *where,
							   const char *const *known, const char *const *required);
/* The field's value, or NULL when absent or JSON null. */
extern JsonbValue *nilus_object_get(JsonbContainer *obj, const char *key, JsonbValue *out);
extern char *nilus_object_string(JsonbContainer *obj, const char *key, const char *where);
extern bool nilus_object_bool(JsonbContainer *obj, const char *key, const char *where, bool *out);
extern JsonbContainer *nilus_object_array(JsonbContainer *obj, const char *key, const char *where);
extern bool nilus_object_uuid(JsonbContainer *obj, const char *key, const char *where, pg_uuid_t *out);
/* Element i of an array, which must be an object. */
extern JsonbContainer *nilus_array_object(JsonbContainer *array, int i, const char *where);
extern char *nilus_field_name(const char *where, const char *key);

#endif							/* NILUS_BODY_H */
