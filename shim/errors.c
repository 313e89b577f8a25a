/*
 * errors.c: the error format (doc/errors.md) and its SQLSTATE -> HTTP status table.
 */
#include "errors.h"

#include <stdio.h>
#include <string.h>

#include <jansson.h>

const char *
error_code(int status)
{
	switch (status)
	{
		case 400:
			return "invalid_parameter";
		case 401:
			return "unauthorized";
		case 403:
			return "forbidden";
		case 404:
			return "not_found";
		case 405:
			return "method_not_allowed";
		case 408:
			return "request_timeout";
		case 409:
			return "conflict";
		case 413:
			return "payload_too_large";
		case 414:
			return "uri_too_long";
		case 415:
			return "unsupported_media_type";
		case 417:
			return "expectation_failed";
		case 431:
			return "header_fields_too_large";
		case 501:
			return "not_implemented";
		case 503:
			return "unavailable";
		case 504:
			return "timeout";
		case 505:
			return "http_version_not_supported";
		default:
			return status >= 500 ? "internal_error" : "bad_request";
	}
}

static char *
render_error(int status, const char *code, const char *message, const char *parameter)
{
	json_t	   *error = json_pack("{s:i, s:s, s:s}", "status", status,
								  "code", code ? code : error_code(status),
								  "message", message);
	json_t	   *root;
	char	   *text;

	if (parameter && error && json_object_set_new(error, "parameter", json_string(parameter)) != 0)
	{
		json_decref(error);
		return NULL;
	}
	root = json_pack("{s:o}", "error", error);
	text = root ? json_dumps(root, JSON_COMPACT) : NULL;
	json_decref(root);
	return text;
}

char *
error_body(int status, const char *code, const char *message, const char *parameter, size_t *len)
{
	char	   *text = render_error(status, code, message, parameter);

	/* Only text that is not UTF-8 or a lack of memory gets here: keep the status, drop the text. */
	if (!text)
		text = render_error(status, code, "the request failed", NULL);
	if (len)
		*len = text ? strlen(text) : 0;
	return text;
}

/*
 * How each database error reaches the client.  First matching prefix wins.
 * Besides the table of doc/errors.md: the rest of class 22 (data exceptions) and class
 * 23 (integrity) and 54 (limits) come from values the client sent, so they
 * are 400s, never 500s; a standby refusing writes is 503 like a restart.  A
 * statement cancelled by the request timeout (57014, statement_timeout or
 * the shim's cancel) or by a lock_timeout an operator set (55P03) is 504:
 * the database is there, it did not answer in time.
 */
enum message_source
{
	FROM_DB,					/* the function's own message, meant for users */
	CONSTRAINT_NAMED,			/* "violates <constraint>": the table's wording is internal */
	FIXED						/* a fixed text; the detail goes to the log only */
};

struct sqlstate_rule
{
	const char *prefix;
	int			status;
	enum message_source source;
	const char *fixed;
};

static const struct sqlstate_rule rules[] = {
	{"23505", 409, FROM_DB, NULL},
	{"28000", 401, FROM_DB, NULL},
	{"42501", 403, FROM_DB, NULL},
	{"P0002", 404, FROM_DB, NULL},
	{"08", 503, FIXED, "database unavailable"},
	{"57P", 503, FIXED, "database unavailable"},
	{"53", 503, FIXED, "database unavailable"},
	{"25006", 503, FIXED, "database unavailable"},
	{"57014", 504, FIXED, "the database did not answer within the request timeout"},
	{"55P03", 504, FIXED, "the database did not answer within the request timeout"},
	{"22", 400, FROM_DB, NULL},
	{"23", 400, CONSTRAINT_NAMED, NULL},
	{"54", 400, FIXED, "a value of the request exceeds a storage limit"},
	{"", 500, FIXED, "internal error"},
};

static const struct sqlstate_rule *
rule_for(const char *sqlstate)
{
	const struct sqlstate_rule *rule = rules;

	while (strncmp(sqlstate, rule->prefix, strlen(rule->prefix)) != 0)
		rule++;
	return rule;
}

bool
error_is_unavailable(const char *sqlstate)
{
	return rule_for(sqlstate ? sqlstate : "")->status == 503;
}

bool
error_is_retryable(const char *sqlstate)
{
	return sqlstate && (strcmp(sqlstate, "40001") == 0 || strcmp(sqlstate, "40P01") == 0);
}

static void
log_db_error(const char *route, const char *sqlstate, const PGresult *res)
{
	const char *primary = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);

	fprintf(stderr, "nilus-manager: %s: database error %s: %s\n", route, sqlstate,
			primary ? primary : PQresultErrorMessage(res));
}

int
error_from_result(const PGresult *res, const char *route, char **body, size_t *len)
{
	const char *sqlstate = PQresultErrorField(res, PG_DIAG_SQLSTATE);
	const struct sqlstate_rule *rule = rule_for(sqlstate ? sqlstate : "");
	const char *primary = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
	const char *parameter = PQresultErrorField(res, PG_DIAG_COLUMN_NAME);
	char		message[256];

	if (rule->source == FIXED || !primary)
	{
		log_db_error(route, sqlstate ? sqlstate : "(none)", res);
		*body = error_body(rule->status, NULL, rule->fixed ? rule->fixed : "internal error",
						   NULL, len);
		return rule->status;
	}
	if (rule->source == CONSTRAINT_NAMED)
	{
		const char *constraint = PQresultErrorField(res, PG_DIAG_CONSTRAINT_NAME);

		snprintf(message, sizeof(message), "the request violates the constraint %s",
				 constraint ? constraint : "of the stored data");
		primary = message;
	}
	*body = error_body(rule->status, NULL, primary, parameter, len);
	return rule->status;
}
