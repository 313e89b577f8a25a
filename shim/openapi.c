/*
 * openapi.c: the OpenAPI 3.1 document.  Paths, operations and parameters
 * come from the route table, so the document cannot miss a route or a
 * parameter; the run's shape and the rights, limits and defaults come from
 * nilus_api.h, the facts the extension enforces; only the other shapes of
 * bodies (components) are written here.
 */
#include "openapi.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "errors.h"
#include "nilus_api.h"
#include "routes.h"

static char *document;
static size_t document_len;

/*
 * The body shapes of doc/http-api.md but the run's (run_schemas), as JSON with '
 * for " so that they stay readable here (no text below contains an
 * apostrophe).
 */
static const char schemas[] =
	"{"
	"'Error': {'type': 'object', 'required': ['error'], 'properties': {'error': {"
	"  'type': 'object', 'required': ['status', 'code', 'message'], 'properties': {"
	"    'status': {'type': 'integer', 'examples': [400]},"
	"    'code': {'type': 'string', 'enum': ['invalid_parameter', 'bad_request', 'unauthorized',"
	"      'forbidden', 'not_found', 'method_not_allowed', 'conflict', 'payload_too_large',"
	"      'uri_too_long', 'unsupported_media_type', 'unavailable', 'internal_error']},"
	"    'message': {'type': 'string', 'examples': ['limit must be an integer from 1 to 1000']},"
	"    'parameter': {'type': 'string', 'description': 'The parameter at fault, when known.',"
	"      'examples': ['limit']}}}}},"
	"'Timestamp': {'type': 'string', 'format': 'date-time', 'examples': ['2026-11-28T10:15:00Z']},"
	"'StoredRun': {'allOf': [{'$ref': '#/components/schemas/Run'}, {'type': 'object',"
	"  'required': ['created'], 'properties': {'created': {'type': 'boolean',"
	"    'description': 'true when the run_id was new; false when it updated or repeated a run.'}}}]},"
	"'Page': {'type': 'object', 'required': ['limit', 'offset', 'total'], 'properties': {"
	"  'limit': {'type': 'integer', 'examples': [50]}, 'offset': {'type': 'integer', 'examples': [0]},"
	"  'total': {'type': 'integer', 'description': 'Exact count of the records matching the filters.'}}},"
	"'PipelineList': {'allOf': [{'$ref': '#/components/schemas/Page'}, {'type': 'object',"
	"  'required': ['pipelines'], 'properties': {'pipelines': {'type': 'array',"
	"    'items': {'$ref': '#/components/schemas/Run'}}}}]},"
	"'RunList': {'allOf': [{'$ref': '#/components/schemas/Page'}, {'type': 'object',"
	"  'required': ['runs'], 'properties': {'runs': {'type': 'array',"
	"    'items': {'$ref': '#/components/schemas/Run'}}}}]},"
	"'Stats': {'type': 'object', 'properties': {"
	"  'resource_id': {'type': 'string'}, 'period': {'type': 'string', 'examples': ['30d']},"
	"  'period_start': {'$ref': '#/components/schemas/Timestamp'},"
	"  'period_end': {'$ref': '#/components/schemas/Timestamp'},"
	"  'stats': {'type': 'object', 'properties': {"
	"    'total_runs': {'type': 'integer'}, 'successful_runs': {'type': 'integer'},"
	"    'failed_runs': {'type': 'integer'},"
	"    'success_rate': {'type': ['number', 'null'], 'description': 'Percent, 2 decimals.'},"
	"    'avg_duration_sec': {'type': ['number', 'null']},"
	"    'max_duration_sec': {'type': ['number', 'null']}}}}},"
	"'ResourceStats': {'type': 'object', 'properties': {"
	"  'resource_id': {'type': 'string'},"
	"  'pipeline_name': {'type': ['string', 'null'], 'description': 'Of the newest run.'},"
	"  'total_runs': {'type': 'integer', 'description': 'Finished runs started within the period.'},"
	"  'successful_runs': {'type': 'integer'}, 'failed_runs': {'type': 'integer'},"
	"  'success_rate': {'type': ['number', 'null'], 'description': 'Percent, 2 decimals.'},"
	"  'avg_duration_sec': {'type': ['number', 'null']},"
	"  'max_duration_sec': {'type': ['number', 'null']},"
	"  'last_started_at': {'type': ['string', 'null'], 'format': 'date-time',"
	"    'description': 'Start of the newest run started by now.'},"
	"  'last_is_success': {'type': ['boolean', 'null'],"
	"    'description': 'Outcome of that run; null while it runs.'}}},"
	"'TenantStats': {'allOf': [{'$ref': '#/components/schemas/Page'}, {'type': 'object',"
	"  'required': ['resources'], 'properties': {"
	"    'period': {'type': 'string', 'examples': ['7d']},"
	"    'period_start': {'$ref': '#/components/schemas/Timestamp'},"
	"    'period_end': {'$ref': '#/components/schemas/Timestamp'},"
	"    'resources': {'type': 'array', 'description': 'Each resource with a run started within"
	" the period, most failures first, then by pipeline name and resource id.',"
	"      'items': {'$ref': '#/components/schemas/ResourceStats'}}}}]},"
	"'Series': {'type': 'object', 'properties': {"
	"  'resource_id': {'type': 'string'}, 'period': {'type': 'string', 'examples': ['7d']},"
	"  'bucket': {'type': 'string', 'enum': ['1h', '1d']},"
	"  'period_start': {'$ref': '#/components/schemas/Timestamp'},"
	"  'period_end': {'$ref': '#/components/schemas/Timestamp'},"
	"  'series': {'type': 'array', 'description': 'Every UTC hour or day from the one holding"
	" period_start to the one holding period_end, oldest first; the first and last count only"
	" their part within the period.',"
	"    'items': {'type': 'object', 'properties': {"
	"      'bucket_start': {'$ref': '#/components/schemas/Timestamp'},"
	"      'total_runs': {'type': 'integer'}, 'successful_runs': {'type': 'integer'},"
	"      'failed_runs': {'type': 'integer'}, 'avg_duration_sec': {'type': ['number', 'null']},"
	"      'max_duration_sec': {'type': ['number', 'null']}}}}}},"
	"'OffsetRecord': {'type': 'object', 'properties': {"
	"  'id': {'type': 'string', 'format': 'uuid'}, 'resource_id': {'type': 'string'},"
	"  'pipeline_name': {'type': 'string'}, 'connector_name': {'type': 'string'},"
	"  'offset_key': {'type': 'string'}, 'offset_val': {'type': ['string', 'null']},"
	"  'record_insert_ts': {'$ref': '#/components/schemas/Timestamp'},"
	"  'record_insert_seq': {'type': 'integer'}}},"
	"'OffsetList': {'allOf': [{'$ref': '#/components/schemas/Page'}, {'type': 'object',"
	"  'required': ['offsets'], 'properties': {'offsets': {'type': 'array',"
	"    'items': {'$ref': '#/components/schemas/OffsetRecord'}}}}]},"
	"'SchemaHistoryRecord': {'type': 'object', 'properties': {"
	"  'id': {'type': 'string', 'format': 'uuid'}, 'resource_id': {'type': 'string'},"
	"  'pipeline_name': {'type': 'string'}, 'connector_name': {'type': 'string'},"
	"  'history_data': {'type': 'string'}, 'history_data_seq': {'type': 'integer'},"
	"  'record_insert_ts': {'$ref': '#/components/schemas/Timestamp'},"
	"  'record_insert_seq': {'type': 'integer'}}},"
	"'SchemaHistoryList': {'allOf': [{'$ref': '#/components/schemas/Page'}, {'type': 'object',"
	"  'required': ['schema_history'], 'properties': {'schema_history': {'type': 'array',"
	"    'items': {'$ref': '#/components/schemas/SchemaHistoryRecord'}}}}]},"
	"'StateInput': {'type': 'object', 'additionalProperties': false, 'required': ['state'],"
	"  'properties': {'state': {'description': 'Any JSON value, often a compressed base64 string.'},"
	"    'run_id': {'type': ['string', 'null']},"
	"    'is_success': {'type': 'boolean', 'default': true}}},"
	"'StateStored': {'type': 'object', 'properties': {'pipeline_name': {'type': 'string'},"
	"  'version': {'type': 'integer', 'examples': [7]},"
	"  'created_at': {'$ref': '#/components/schemas/Timestamp'}}},"
	"'State': {'type': 'object', 'properties': {'pipeline_name': {'type': 'string'},"
	"  'version': {'type': 'integer'}, 'state': {'description': 'The stored JSON value.'},"
	"  'run_id': {'type': ['string', 'null']},"
	"  'created_at': {'$ref': '#/components/schemas/Timestamp'}}},"
	"'OffsetsInput': {'type': 'object', 'additionalProperties': false,"
	"  'required': ['resource_id', 'connector_name', 'offsets'], 'properties': {"
	"    'resource_id': {'type': 'string'}, 'connector_name': {'type': 'string'},"
	"    'offsets': {'type': 'array', 'items': {'type': 'object', 'additionalProperties': false,"
	"      'required': ['offset_key'], 'properties': {'offset_key': {'type': 'string'},"
	"        'offset_val': {'type': ['string', 'null']},"
	"        'id': {'type': 'string', 'format': 'uuid',"
	"          'description': 'Makes a retried batch store nothing twice.'}}}}}},"
	"'Stored': {'type': 'object', 'properties': {'stored': {'type': 'integer',"
	"  'description': 'Records newly written (0 for a retried batch with the same ids).'}}},"
	"'Offsets': {'type': 'object', 'properties': {'pipeline_name': {'type': 'string'},"
	"  'offsets': {'type': 'array', 'description': 'The latest record of each offset key.',"
	"    'items': {'type': 'object', 'properties': {'offset_key': {'type': 'string'},"
	"      'offset_val': {'type': ['string', 'null']}, 'connector_name': {'type': 'string'},"
	"      'record_insert_ts': {'$ref': '#/components/schemas/Timestamp'}}}}}},"
	"'SchemaHistoryInput': {'type': 'object', 'additionalProperties': false,"
	"  'required': ['resource_id', 'connector_name', 'records'], 'properties': {"
	"    'resource_id': {'type': 'string'}, 'connector_name': {'type': 'string'},"
	"    'records': {'type': 'array', 'items': {'type': 'object', 'additionalProperties': false,"
	"      'required': ['history_data'], 'properties': {'history_data': {'type': 'string'},"
	"        'id': {'type': 'string', 'format': 'uuid'}}}}}},"
	"'SchemaHistory': {'type': 'object', 'properties': {'pipeline_name': {'type': 'string'},"
	"  'records': {'type': 'array', 'description': 'In insertion order.',"
	"    'items': {'type': 'object', 'properties': {'id': {'type': 'string', 'format': 'uuid'},"
	"      'history_data': {'type': 'string'},"
	"      'record_insert_ts': {'$ref': '#/components/schemas/Timestamp'},"
	"      'record_insert_seq': {'type': 'integer'}}}}}},"
	"'SchemaHistoryExists': {'type': 'object', 'properties': {'pipeline_name': {'type': 'string'},"
	"  'exists': {'type': 'boolean'}}},"
	"'Health': {'type': 'object', 'additionalProperties': true, 'properties': {"
	"  'status': {'type': 'string', 'examples': ['ok']}, 'database': {'type': 'string'},"
	"  'extension_version': {'type': 'string'},"
	"  'checked_at': {'$ref': '#/components/schemas/Timestamp'}}},"
	"'Info': {'type': 'object', 'additionalProperties': true, 'properties': {"
	"  'service': {'type': 'string', 'examples': ['nilus-manager']}, 'version': {'type': 'string'},"
	"  'extension_version': {'type': 'string'}, 'build': {'type': 'object'}}},"
	"'StorageHealth': {'type': 'object', 'additionalProperties': true, 'properties': {"
	"  'status': {'type': 'string', 'examples': ['ok']}}}"
	"}";

/* Which errors each kind of route can answer with. */
static const int api_errors[] = {400, 401, 403, 404, 405, 414, 500, 503, 504};
static const int body_errors[] = {409, 413, 415};

static json_t *
parse_schemas(void)
{
	char	   *text = strdup(schemas);
	json_error_t error;
	json_t	   *parsed;

	if (!text)
		return NULL;
	for (char *p = text; *p; p++)
		if (*p == '\'')
			*p = '"';
	parsed = json_loads(text, 0, &error);
	if (!parsed)
		fprintf(stderr, "nilus-manager: openapi schemas: %s at column %d\n", error.text,
				error.column);
	free(text);
	return parsed;
}

static json_t *
ref(const char *kind, const char *name)
{
	char		target[128];

	snprintf(target, sizeof(target), "#/components/%s/%s", kind, name);
	return json_pack("{s:s}", "$ref", target);
}

static json_t *
type_schema(enum param_type type)
{
	switch (type)
	{
		case PT_BOOLEAN:
			return json_pack("{s:s}", "type", "boolean");
		case PT_INTEGER:
			return json_pack("{s:s, s:s}", "type", "integer", "format", "int32");
		case PT_TIMESTAMPTZ:
			return json_pack("{s:s, s:s}", "type", "string", "format", "date-time");
		case PT_DAY_OR_TIMESTAMP:
			return json_pack("{s:[{s:s, s:s}, {s:s, s:s}]}", "oneOf",
							 "type", "string", "format", "date",
							 "type", "string", "format", "date-time");
		case PT_PERIOD:
			return json_pack("{s:s, s:s}", "type", "string", "pattern", "^[0-9]+[mhdw]$");
		case PT_BUCKET:
			return json_pack("{s:s, s:[s, s]}", "type", "string", "enum", "1h", "1d");
		case PT_TEXT:
			break;
	}
	return json_pack("{s:s}", "type", "string");
}

/* The type's schema with the parameter's default and bounds. */
static json_t *
param_schema(const struct param *param)
{
	json_t	   *schema = type_schema(param->type);

	if (param->default_value)
		json_object_set_new(schema, "default",
							param->type == PT_INTEGER ? json_integer(atoi(param->default_value))
							: json_string(param->default_value));
	if (param->minimum.set)
		json_object_set_new(schema, "minimum", json_integer(param->minimum.value));
	if (param->maximum.set)
		json_object_set_new(schema, "maximum", json_integer(param->maximum.value));
	return schema;
}

/* A run field's schema; nullable: null is one of its values. */
static json_t *
run_field_schema(NilusFieldKind kind, bool nullable, const char *description)
{
	const char *format = nilus_field_json_format(kind);
	json_t	   *schema = json_pack("{s:o}", "type", nullable
								   ? json_pack("[s, s]", nilus_field_json_type(kind), "null")
								   : json_string(nilus_field_json_type(kind)));

	if (format)
		json_object_set_new(schema, "format", json_string(format));
	if (kind == NILUS_FIELD_OBJECT)
		json_object_set_new(schema, "additionalProperties", json_true());
	json_object_set_new(schema, "description", json_string(description));
	return schema;
}

/*
 * Run (every field, always present) and RunInput (the required ones named;
 * unknown fields allowed, kept in metadata), from NILUS_RUN_FIELDS.
 */
static void
add_run_schemas(json_t *components)
{
	json_t	   *run = json_object();
	json_t	   *input = json_object();
	json_t	   *all = json_array();
	json_t	   *required = json_array();

#define RUN_FIELD_SCHEMA(name, kind, is_required, nullable, description) \
	json_object_set_new(run, #name, run_field_schema(kind, nullable, description)); \
	json_object_set_new(input, #name, run_field_schema(kind, nullable, description)); \
	json_array_append_new(all, json_string(#name)); \
	if (is_required) \
		json_array_append_new(required, json_string(#name));
	NILUS_RUN_FIELDS(RUN_FIELD_SCHEMA)
#undef RUN_FIELD_SCHEMA
	json_object_set_new(components, "Run",
						json_pack("{s:s, s:o, s:o}", "type", "object", "required", all,
								  "properties", run));
	json_object_set_new(components, "RunInput",
						json_pack("{s:s, s:b, s:s, s:o, s:o}", "type", "object",
								  "additionalProperties", 1,
								  "description", "A run as under Run; unknown fields are kept in metadata.",
								  "required", required, "properties", input));
}

static json_t *
parameters(const struct route *route)
{
	json_t	   *list = json_array();

	for (size_t i = 0; i < route_path_param_count(route); i++)
	{
		size_t		len = 0;
		const char *name = route_path_param(route, i, &len);

		json_array_append_new(list, json_pack("{s:s%, s:s, s:b, s:{s:s}}", "name", name, len,
											  "in", "path", "required", 1,
											  "schema", "type", "string"));
	}
	for (size_t i = 0; route->query && route->query[i]; i++)
		json_array_append_new(list, json_pack("{s:s, s:s, s:b, s:s, s:o}",
											  "name", route->query[i]->name, "in", "query",
											  "required", 0,
											  "description", route->query[i]->description,
											  "schema", param_schema(route->query[i])));
	return list;
}

static json_t *
responses(const struct route *route)
{
	char		status[8];
	json_t	   *all = json_object();

	snprintf(status, sizeof(status), "%d", route->status);
	json_object_set_new(all, status,
						json_pack("{s:s, s:{s:{s:o}}}", "description", route->summary,
								  "content", "application/json", "schema",
								  ref("schemas", route->response_schema)));
	for (size_t i = 0; i < sizeof(api_errors) / sizeof(api_errors[0]); i++)
	{
		snprintf(status, sizeof(status), "%d", api_errors[i]);
		json_object_set_new(all, status, ref("responses", error_code(api_errors[i])));
	}
	for (size_t i = 0; route->body && i < sizeof(body_errors) / sizeof(body_errors[0]); i++)
	{
		snprintf(status, sizeof(status), "%d", body_errors[i]);
		json_object_set_new(all, status, ref("responses", error_code(body_errors[i])));
	}
	return all;
}

static json_t *
operation(const struct route *route)
{
	char		description[256];
	json_t	   *op;

	snprintf(description, sizeof(description),
			 "One call of the SQL function nilus.%s. The token needs the `%s` right%s",
			 route->function, route_right(route),
			 strstr(route->pattern, "{tenant}")
			 ? " and, unless it is an admin token, the path's tenant."
			 : "; it names no tenant, so any tenant's token with that right will do.");
	op = json_pack("{s:s, s:s, s:s, s:[s], s:s, s:o, s:o}",
				   "operationId", route->function, "summary", route->summary,
				   "description", description, "tags", route->tag,
				   "x-nilus-right", route_right(route),
				   "parameters", parameters(route), "responses", responses(route));
	if (op && route->body)
		json_object_set_new(op, "requestBody",
							json_pack("{s:b, s:{s:{s:o}}}", "required", 1,
									  "content", "application/json", "schema",
									  ref("schemas", route->body_schema)));
	return op;
}

static void
lowercase(const char *s, char *buf, size_t size)
{
	size_t		k = 0;

	for (; s[k] && k < size - 1; k++)
		buf[k] = (char) tolower((unsigned char) s[k]);
	buf[k] = '\0';
}

static json_t *
paths(void)
{
	json_t	   *all = json_object();

	for (size_t i = 0; i < n_routes; i++)
	{
		const struct route *route = &routes[i];
		char		method[8];
		json_t	   *item;

		if (route->kind != RK_API)
			continue;
		item = json_object_get(all, route->pattern);
		if (!item)
		{
			item = json_object();
			json_object_set_new(all, route->pattern, item);
		}
		lowercase(route->method, method, sizeof(method));
		json_object_set_new(item, method, operation(route));
	}
	return all;
}

static json_t *
error_responses(void)
{
	static const int all[] = {400, 401, 403, 404, 405, 409, 413, 414, 415, 500, 503, 504};
	static const char *const descriptions[] = {
		"A parameter, the path or the body is invalid; `parameter` names the one at fault.",
		"The bearer token is missing, malformed, unknown, revoked or expired.",
		"The token may not act for this tenant or lacks the right.",
		"No such route, or nothing stored yet (e.g. no successful state).",
		"The route exists but not for this method; see the Allow header.",
		"The request conflicts with stored data.",
		"The body is larger than the limit (--max-body).",
		"The request URI is too long.",
		"The body is not sent as application/json.",
		"An internal error; the detail is in the server log only.",
		"The database cannot be reached, or (code `busy`) too many large answers wait for "
		"clients that do not read them; retry later.",
		"The database did not answer within --request-timeout; the call was cancelled. "
		"A POST may or may not have been stored: retry it (ids make retries idempotent).",
	};
	json_t	   *responses = json_object();

	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
		json_object_set_new(responses, error_code(all[i]),
							json_pack("{s:s, s:{s:{s:o}}}", "description", descriptions[i],
									  "content", "application/json", "schema",
									  ref("schemas", "Error")));
	return responses;
}

static json_t *
build(void)
{
	json_t	   *components = parse_schemas();

	if (!components)
		return NULL;
	add_run_schemas(components);
	return json_pack("{s:s, s:{s:s, s:s, s:s}, s:[{s:s}], s:[{s:[]}], s:o, s:{s:o, s:o, s:{s:{s:s, s:s, s:s}}},"
					 " s:[{s:s, s:s}, {s:s, s:s}, {s:s, s:s}, {s:s, s:s}, {s:s, s:s}]}",
					 "openapi", "3.1.0",
					 "info", "title", "Nilus Manager API", "version", NILUS_VERSION,
					 "description", "Pipeline run metadata, statistics and CDC state of Nilus. "
					 "Every call needs `Authorization: Bearer <token>`; tokens are created "
					 "in SQL with nilus.create_token.",
					 "servers", "url", "/",
					 "security", "bearerAuth",
					 "paths", paths(),
					 "components", "schemas", components, "responses", error_responses(),
					 "securitySchemes", "bearerAuth", "type", "http", "scheme", "bearer",
					 "description", "A token nilus_<64 hex> from nilus.create_token.",
					 "tags", "name", "service", "description", "Service health and version",
					 "name", "runs", "description", "Run history and statistics (right: read)",
					 "name", "insight", "description", "The tenant's resources and runs over time (right: read)",
					 "name", "cdc", "description", "CDC listings (right: read)",
					 "name", "runtime", "description", "Internal routes of the Nilus runtime (right: runtime)");
}

bool
openapi_init(void)
{
	json_t	   *doc = build();

	if (!doc)
		return false;
	document = json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	json_decref(doc);
	if (!document)
		return false;
	document_len = strlen(document);
	return true;
}

const char *
openapi_document(size_t *len)
{
	*len = document_len;
	return document;
}

void
openapi_free(void)
{
	free(document);
	document = NULL;
}
