/* ui.c: the dashboard's static files under /ui/, compiled in by ui/embed.c: no token (a browser
 * cannot send one when it opens a page), an ETag and revalidation, gzip made once per file. */
#include "api.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

static pthread_once_t gz_once = PTHREAD_ONCE_INIT;
static struct mb_buf *gz; /* one per asset; len 0 when gzip did not help or failed */

static void make_gz(void)
{
	size_t n = 0;
	while (api_assets[n].path)
		n++;
	gz = calloc(n ? n : 1, sizeof *gz);
	if (!gz)
		return;
	for (size_t i = 0; i < n; i++) {
		if (api_gzip(api_assets[i].data, api_assets[i].len, &gz[i]) != 0 ||
		    gz[i].len >= api_assets[i].len)
			mb_buf_free(&gz[i]);
	}
}

bool api_ui_path(const char *path)
{
	return strncmp(path, "/ui", 3) == 0 && (path[3] == 0 || path[3] == '/');
}

/* True when an If-None-Match value names etag (a list, or "*"). */
static bool etag_matches(const char *inm, const char *etag)
{
	size_t n = strlen(etag);
	for (const char *p = inm; p && *p;) {
		while (*p == ' ' || *p == ',')
			p++;
		if (*p == '*')
			return true;
		if (strncmp(p, "W/", 2) == 0)
			p += 2;
		if (strncmp(p, etag, n) == 0 && (p[n] == 0 || p[n] == ',' || p[n] == ' '))
			return true;
		p = strchr(p, ',');
	}
	return false;
}

static void fail(struct api_response *resp, int status, const char *msg)
{
	resp->status = status;
	resp->ctype = "application/json";
	mb_buf_reset(&resp->body);
	if (api_json_error(&resp->body, msg) != 0)
		resp->status = 500;
}

void api_ui_serve(const char *method, const char *path, const char *if_none_match, bool gzip_ok,
                  struct api_response *resp)
{
	const struct api_asset *a = NULL;
	size_t i;
	if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
		resp->allow = true;
		fail(resp, 405, "method not allowed: use GET");
		return;
	}
	if (strcmp(path, "/ui") == 0) { /* relative links in the page need the slash */
		fail(resp, 301, "moved to /ui/");
		resp->location = "/ui/";
		return;
	}
	for (i = 0; api_assets[i].path; i++) {
		if (strcmp(api_assets[i].path, path) == 0) {
			a = &api_assets[i];
			break;
		}
	}
	if (!a) {
		fail(resp, 404, "no such file in the dashboard");
		return;
	}
	resp->ctype = a->ctype;
	resp->etag = a->etag;
	/* revalidate every time: a 304 is cheap, and a new binary's page is never mixed with an
	 * old cached script */
	resp->cache_control = "no-cache";
	if (if_none_match && etag_matches(if_none_match, a->etag)) {
		resp->status = 304;
		return;
	}
	resp->status = 200;
	pthread_once(&gz_once, make_gz);
	if (gzip_ok && gz && gz[i].len) {
		if (mb_buf_append(&resp->body, gz[i].data, gz[i].len) != 0)
			goto oom;
		resp->gzipped = true;
	} else if (mb_buf_append(&resp->body, a->data, a->len) != 0) {
		goto oom;
	}
	return;
oom:
	fail(resp, 503, "out of memory");
}
