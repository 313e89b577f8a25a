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
		char	   *right = nulls[i] ? "" : TextDatumGetCString(elems[i]);

		if (strcmp(right, "read") == 0)
			bits |= 1 << NILUS_RIGHT_READ;
		else if (strcmp(right, "runtime") == 0)
			bits |= 1 << NILUS_RIGHT_RUNTIME;
		else
			nilus_invalid("rights", "rights may contain only \"read\" and \"runtime\", not \"%s\"", right);
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
	char	   *token;
	Datum		values[5];
	char		nulls[5] = "     ";
	char	   *label;

	if (!PG_ARGISNULL(0))
		nilus_arg_tenant(fcinfo, 0);
	if (PG_ARGISNULL(1))
		nilus_invalid("rights", "rights are required");
	parse_rights(PG_GETARG_ARRAYTYPE_P(1));
	if (PG_ARGISNULL(2) || strlen(label = TextDatumGetCString(PG_GETARG_DATUM(2))) == 0)
		nilus_invalid("label", "label is required: a name to revoke the token by");

	token = new_token();
	values[0] = PointerGetDatum(token_hash(token));
	values[1] = PG_GETARG_DATUM(0);
	nulls[1] = PG_ARGISNULL(0) ? 'n' : ' ';
	values[2] = PG_GETARG_DATUM(1);
	values[3] = PG_GETARG_DATUM(2);
	values[4] = PG_GETARG_DATUM(3);
	nulls[4] = PG_ARGISNULL(3) ? 'n' : ' ';

	SPI_connect();
	nilus_execute(&insert, values, nulls, false, 0);
	if (SPI_processed != 1)
		ereport(ERROR,
				(errcode(ERRCODE_UNIQUE_VIOLATION),
				 errmsg("label \"%s\" is already used by another token", label),
				 err_generic_string(PG_DIAG_COLUMN_NAME, "label")));
	SPI_finish();
	PG_RETURN_TEXT_P(cstring_to_text(token));
}

PG_FUNCTION_INFO_V1(nilus_revoke_token);

/* True when this call revoked the token, false when it already was. */
Datum
nilus_revoke_token(PG_FUNCTION_ARGS)
{
	static NilusPlan revoke = {
		"UPDATE nilus.api_token SET revoked_at = coalesce(revoked_at, now()) "
		"WHERE label = $1 RETURNING revoked_at = now()",
		1, {TEXTOID}
	};
	Datum		values[1] = {PG_GETARG_DATUM(0)};
	bool		revoked_now;
	bool		isnull;

	SPI_connect();
	nilus_execute(&revoke, values, NULL, false, 0);
	if (SPI_processed == 0)
		nilus_not_found("label", "no token has the label \"%s\"", TextDatumGetCString(values[0]));
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

	values[0] = PointerGetDatum(token_hash(TextDatumGetCString(PG_GETARG_DATUM(0))));
	nj_init(&js);
	SPI_connect();
	nilus_execute(&lookup, values, NULL, true, 1);
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
				 errmsg("token is unknown, revoked or expired")));
	row = SPI_tuptable->vals[0];
	desc = SPI_tuptable->tupdesc;
	tenant = SPI_getvalue(row, desc, 1);
	rights = parse_rights(DatumGetArrayTypeP(SPI_getbinval(row, desc, 2, &isnull)));
	nilus_set_token_identity(tenant, rights);

	nj_begin_object(&js);
	nj_column(&js, row, desc, "tenant");
	nj_key(&js, "rights");
	nj_begin_array(&js);
	for (int right = NILUS_RIGHT_READ; right <= NILUS_RIGHT_RUNTIME; right++)
		if (rights & (1 << right))
			nj_string(&js, right == NILUS_RIGHT_READ ? "read" : "runtime");
	nj_end_array(&js);
	nj_column(&js, row, desc, "label");
	nj_end_object(&js);
	SPI_finish();
	PG_RETURN_DATUM(nj_result(&js));
}
