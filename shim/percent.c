/*
 * percent.c: percent-decoding and the strict UTF-8 check of what it
 * decodes; see percent.h.  Decoded values go to SQL as text, so they are
 * judged here, before the database sees them.
 */
#include "percent.h"

#include <ctype.h>
#include <stdlib.h>

static int
hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = (char) tolower((unsigned char) c);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* Strict UTF-8 (no overlongs, no surrogates) and no NUL, which text cannot hold. */
static bool
utf8_valid(const unsigned char *s, size_t len)
{
	size_t		i = 0;

	while (i < len)
	{
		unsigned char c = s[i];
		size_t		n;
		unsigned int cp;

		if (c == 0)
			return false;
		if (c < 0x80)
		{
			i++;
			continue;
		}
		if ((c & 0xE0) == 0xC0)
			n = 1, cp = c & 0x1F;
		else if ((c & 0xF0) == 0xE0)
			n = 2, cp = c & 0x0F;
		else if ((c & 0xF8) == 0xF0)
			n = 3, cp = c & 0x07;
		else
			return false;
		for (size_t k = 1; k <= n; k++)
		{
			if (i + k >= len || (s[i + k] & 0xC0) != 0x80)
				return false;
			cp = (cp << 6) | (s[i + k] & 0x3F);
		}
		if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) ||
			cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
			return false;
		i += n + 1;
	}
	return true;
}

char *
percent_decode(const char *raw, size_t len, bool form)
{
	char	   *out = malloc(len + 1);
	size_t		n = 0;

	if (!out)
		return NULL;
	for (size_t i = 0; i < len; i++)
	{
		if (raw[i] == '%')
		{
			int			hi = i + 2 < len ? hex_value(raw[i + 1]) : -1;
			int			lo = i + 2 < len ? hex_value(raw[i + 2]) : -1;

			if (hi < 0 || lo < 0)
			{
				free(out);
				return NULL;
			}
			out[n++] = (char) (hi * 16 + lo);
			i += 2;
		}
		else
			out[n++] = (form && raw[i] == '+') ? ' ' : raw[i];
	}
	out[n] = '\0';
	if (!utf8_valid((const unsigned char *) out, n))
	{
		free(out);
		return NULL;
	}
	return out;
}
