/*
 * docs.c: Swagger UI and ReDoc pages, the dashboard (shim/ui/) and their
 * scripts, all served from here so that the pages work offline.  Asset names are one path segment of
 * a fixed alphabet and are opened below --docs-dir only, so no name can
 * reach outside it.
 */
#include "docs.h"

#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "response.h"
#include "openapi.h"

#define HTML_TYPE "text/html; charset=utf-8"

static const char *docs_dir;

/* Relative URLs: the pages keep working behind a proxy that moves /nilus-manager. */
static const char swagger_page[] =
	"<!DOCTYPE html>\n"
	"<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
	"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
	"<title>Nilus Manager API</title>\n"
	"<link rel=\"stylesheet\" href=\"./docs/swagger-ui.css\">\n</head>\n<body>\n"
	"<div id=\"swagger-ui\"></div>\n"
	"<script src=\"./docs/swagger-ui-bundle.js\"></script>\n"
	"<script src=\"./docs/swagger-ui-standalone-preset.js\"></script>\n"
	"<script>\n"
	"window.onload = function () {\n"
	"  window.ui = SwaggerUIBundle({\n"
	"    url: \"./openapi.json\",\n"
	"    dom_id: \"#swagger-ui\",\n"
	"    presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset],\n"
	"    layout: \"StandaloneLayout\",\n"
	"    validatorUrl: null,\n"	/* no call to the online validator: offline */
	"    persistAuthorization: true\n"
	"  });\n"
	"};\n"
	"</script>\n</body>\n</html>\n";

static const char redoc_page[] =
	"<!DOCTYPE html>\n"
	"<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
	"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
	"<title>Nilus Manager API</title>\n"
	"<style>body { margin: 0; padding: 0; }</style>\n</head>\n<body>\n"
	"<redoc spec-url=\"./openapi.json\"></redoc>\n"
	"<script src=\"./docs/redoc.standalone.js\"></script>\n"
	"</body>\n</html>\n";

void
docs_init(const char *dir)
{
	docs_dir = dir;
}

static bool
asset_name_ok(const char *name)
{
	static const char alphabet[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-";
	size_t		len = strlen(name);

	return len > 0 && len <= 128 && name[0] != '.' && strspn(name, alphabet) == len;
}

static const char *
asset_type(const char *name)
{
	static const struct
	{
		const char *suffix;
		const char *type;
	}			types[] = {
		{".js", "text/javascript; charset=utf-8"},
		{".css", "text/css; charset=utf-8"},
		{".map", "application/json; charset=utf-8"},
		{".json", "application/json; charset=utf-8"},
		{".html", HTML_TYPE},
		{".png", "image/png"},
		{".svg", "image/svg+xml"},
		{".txt", "text/plain; charset=utf-8"},
	};
	size_t		len = strlen(name);

	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
	{
		size_t		slen = strlen(types[i].suffix);

		if (len > slen && strcmp(name + len - slen, types[i].suffix) == 0)
			return types[i].type;
	}
	return "application/octet-stream";
}

static void
close_asset(void *fd)
{
	close((int) (intptr_t) fd);
}

static struct response *
asset_response(const char *name)
{
	char		path[4096];
	struct stat st;
	int			fd = -1;
	struct response *response;

	if (!asset_name_ok(name) ||
		snprintf(path, sizeof(path), "%s/%s", docs_dir, name) >= (int) sizeof(path) ||
		(fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) < 0 ||
		fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))
	{
		if (fd >= 0)
			close(fd);
		return response_error(404, NULL, "no such documentation asset", NULL);
	}
	response = response_file(200, asset_type(name), fd, (size_t) st.st_size, close_asset);
	if (response)
		response_add_field(response, "Cache-Control", "public, max-age=3600");
	return response;
}

struct response *
docs_response(const struct route *route, const char *asset)
{
	size_t		len;
	const char *document;

	switch (route->kind)
	{
		case RK_OPENAPI:
			document = openapi_document(&len);
			return response_static(200, JSON_TYPE, document, len);
		case RK_SWAGGER_UI:
			return response_static(200, HTML_TYPE, swagger_page, sizeof(swagger_page) - 1);
		case RK_REDOC:
			return response_static(200, HTML_TYPE, redoc_page, sizeof(redoc_page) - 1);
		case RK_DOCS_ASSET:
			return asset_response(asset);
		case RK_DASHBOARD:
			return asset_response("dashboard.html");
		case RK_REDIRECT:
			return response_redirect(route->status, route->location);
		case RK_API:
			break;
	}
	return response_error(404, NULL, "no such route", NULL);
}
