/*
 * tokens.c: API tokens.  The plaintext is returned once by create_token and
 * never stored: the table keeps its SHA-256, which is what authenticate
 * looks up.
 */
#include "postgres.h"

#include "access.h"
#include "args.h"
#include "errors.h"
#include "json_out.h"
#include "spi.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "common/cryptohash.h"
#include "common/sha2.h"
#include "utils/array.h"
#include "utils/builtins.h"

#define TOKEN_PREFIX "nilus_"
#define TOKEN_RANDOM_BYTES 32

static bytea *
token_hash(const char *token)
{
	pg_cryptohash_ctx *ctx = pg_cryptohash_create(PG_SHA256);
	bytea	   *hash = palloc(VARHDRSZ + PG_SHA256_DIGEST_LENGTH);

	if (pg_cryptohash_init(ctx) < 0 ||
		pg_cryptohash_update(ctx, (const uint8 *) token, strlen(token)) < 0 ||
		pg_cryptohash_final(ctx, (uint8 *) VARDATA(hash), PG_SHA256_DIGEST_LENGTH) < 0)
		elog(ERROR, "nilus: could not compute SHA-256");
	pg_cryptohash_free(ctx);
	SET_VARSIZE(hash, VARHDRSZ + PG_SHA256_DIGEST_LENGTH);
	return hash;
}

static char *
new_token(void)
{
	uint8		random[TOKEN_RANDOM_BYTES];
	StringInfoData token;

	if (!pg_strong_random(random, sizeof(random)))
		elog(ERROR, "nilus: could not generate random bytes for a token");
	initStringInfo(&token);
	appendStringInfoString(&token, TOKEN_PREFIX);
	for (int i = 0; i < TOKEN_RANDOM_BYTES; i++)
		appendStringInfo(&token, "%02x", random[i]);
	return token.data;
}

/* The NilusRight of that name, or -1. */
static int
right_named(const char *name)
{
	for (int right = 0; right < NILUS_RIGHT_COUNT; right++)
		if (strcmp(nilus_right_name(right), name) == 0)
			return right;
	return -1;
}

/* Rights as a bit set; 22023 for anything but a non-empty set of known rights. */
static int
parse_rights(ArrayType *rights)
{
	Datum	   *elems;
	bool	   *nulls;
	int			count;
	int			bits = 0;

	deconstruct_array(rights, TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, &count);
	for (int i = 0; i < count; i++)
	{
		char	   *name = nulls[i] ? "" : TextDatumGetCString(elems[i]);
		int			right = right_named(name);

		if (right < 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("rights may contain only \"read\" and \"runtime\", not \"%s\"", name),
					 errhint("\"read\" lets a token call the read routes, \"runtime\" the runtime's routes."),
					 nilus_errparameter("rights")));
		bits |= 1 << right;
	}
	if (bits == 0)
		nilus_invalid("rights", "rights must name at least one of \"read\" and \"runtime\"");
	return bits;
}

PG_FUNCTION_INFO_V1(nilus_create_token);

Datum
nilus_create_token(PG_FUNCTION_ARGS)
{
	static NilusPlan insert = {
		"INSERT INTO nilus.api_token (token_hash, tenant, rights, label, expires_at) "
		"VALUES ($1, $2, $3, $4, $5) ON CONFLICT (label) DO NOTHING",
		5, {BYTEAOID, TEXTOID, TEXTARRAYOID, TEXTOID, TIMESTAMPTZOID}
	};
	int			rights_arg = nilus_argno(fcinfo, "rights");
	int			expires_arg = nilus_argno(fcinfo, "expires_at");
	char	   *token;
	Datum		values[5];
	char		nulls[5] = "     ";
	char	   *label = nilus_arg_text(fcinfo, "label");
	char	   *tenant = NULL;

	if (nilus_arg_given(fcinfo, "tenant"))
		tenant = nilus_arg_tenant(fcinfo);
	if (PG_ARGISNULL(rights_arg))
		nilus_invalid("rights", "rights are required");
	parse_rights(PG_GETARG_ARRAYTYPE_P(rights_arg));
	if (label == NULL || label[0] == '\0')
		nilus_invalid("label", "label is required: a name to revoke the token by");

	token = new_token();
	values[0] = PointerGetDatum(token_hash(token));
	values[1] = tenant ? CStringGetTextDatum(tenant) : (Datum) 0;
	nulls[1] = tenant ? ' ' : 'n';
	values[2] = PG_GETARG_DATUM(rights_arg);
	values[3] = CStringGetTextDatum(label);
	values[4] = PG_GETARG_DATUM(expires_arg);
	nulls[4] = PG_ARGISNULL(expires_arg) ? 'n' : ' ';

	nilus_spi_connect();
	nilus_execute_as_superuser_caller(&insert, values, nulls);
	if (SPI_processed != 1)
		ereport(ERROR,
				(errcode(ERRCODE_UNIQUE_VIOLATION),
				 errmsg("label \"%s\" is already used by another token", label),
				 errhint("Labels are unique across tenants, revoked tokens included: choose another."),
				 nilus_errparameter("label")));
	SPI_finish();
	PG_RETURN_TEXT_P(cstring_to_text(token));
}

PG_FUNCTION_INFO_V1(nilus_revoke_token);

/* True when this call revoked the token, false when it already was. */
Datum
nilus_revoke_token(PG_FUNCTION_ARGS)
{
	/* now() as a value: Citus takes no stable function in an UPDATE's COALESCE. */
	static NilusPlan revoke = {
		"UPDATE nilus.api_token SET revoked_at = coalesce(revoked_at, $2) "
		"WHERE label = $1 RETURNING revoked_at = $2",
		2, {TEXTOID, TIMESTAMPTZOID}
	};
	char	   *label = nilus_arg_text(fcinfo, "label");	/* STRICT: given */
	Datum		values[2] = {CStringGetTextDatum(label),
	TimestampTzGetDatum(GetCurrentTransactionStartTimestamp())};
	bool		revoked_now;
	bool		isnull;

	nilus_spi_connect();
	nilus_execute_as_superuser_caller(&revoke, values, NULL);
	if (SPI_processed == 0)
		nilus_not_found("label", "no token has the label \"%s\"", label);
	revoked_now = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	SPI_finish();
	PG_RETURN_BOOL(revoked_now);
}

PG_FUNCTION_INFO_V1(nilus_authenticate);

Datum
nilus_authenticate(PG_FUNCTION_ARGS)
{
	static NilusPlan lookup = {
		"SELECT tenant, rights, label FROM nilus.api_token "
		"WHERE token_hash = $1 AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now())",
		1, {BYTEAOID}
	};
	Datum		values[1];
	NilusJson	js;
	HeapTuple	row;
	TupleDesc	desc;
	bool		isnull;
	char	   *tenant;
	int			rights;

	values[0] = PointerGetDatum(token_hash(nilus_arg_text(fcinfo, "token")));	/* STRICT: given */
	nj_init(&js);
	nilus_spi_connect();
	nilus_execute(&lookup, values, NULL, true, 1);
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
				 errmsg("token is unknown, revoked or expired"),
				 errhint("An administrator creates tokens with nilus.create_token(); "
						 "a revoked or expired token stays refused.")));
	row = SPI_tuptable->vals[0];
	desc = SPI_tuptable->tupdesc;
	tenant = SPI_getvalue(row, desc, 1);
	rights = parse_rights(DatumGetArrayTypeP(SPI_getbinval(row, desc, 2, &isnull)));
	nilus_set_token_identity(tenant, rights);

	nj_begin_object(&js);
	nj_column(&js, row, desc, "tenant");
	nj_key(&js, "rights");
	nj_begin_array(&js);
	for (int right = 0; right < NILUS_RIGHT_COUNT; right++)
		if (rights & (1 << right))
			nj_string(&js, nilus_right_name(right));
	nj_end_array(&js);
	nj_column(&js, row, desc, "label");
	nj_end_object(&js);
	SPI_finish();
	PG_RETURN_DATUM(nj_result(&js));
}
