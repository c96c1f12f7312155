/* auth.c: the bearer token of --token-file: read once at start, compared in constant time
 * so that response timing does not reveal how much of a guess was right. */
#include "api.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

int api_token_load(const char *path, char *tok, size_t n, char *err, size_t errlen)
{
	FILE *f = fopen(path, "r");
	size_t len;
	if (!f) {
		snprintf(err, errlen, "cannot read token file %s: %s", path, strerror(errno));
		return MB_ESYS;
	}
	len = fread(tok, 1, n - 1, f);
	int big = !feof(f) && fgetc(f) != EOF;
	fclose(f);
	if (big) {
		snprintf(err, errlen, "token file %s is longer than %zu bytes", path, n - 1);
		return MB_EINVAL;
	}
	tok[len] = 0;
	while (len > 0 && (tok[len - 1] == '\n' || tok[len - 1] == '\r' || tok[len - 1] == ' ' ||
	                   tok[len - 1] == '\t'))
		tok[--len] = 0;
	if (len == 0) {
		snprintf(err, errlen, "token file %s is empty", path);
		return MB_EINVAL;
	}
	for (size_t i = 0; i < len; i++) {
		if ((unsigned char)tok[i] < 0x21 || (unsigned char)tok[i] > 0x7e) {
			snprintf(err, errlen, "token file %s: the token must be printable ASCII "
			         "without spaces", path);
			return MB_EINVAL;
		}
	}
	return 0;
}

bool api_auth_ok(const char *header, const char *token)
{
	static const char scheme[] = "Bearer ";
	size_t tl = strlen(token), hl;
	unsigned diff = 0;
	if (!header || strncasecmp(header, scheme, sizeof scheme - 1) != 0)
		return false;
	header += sizeof scheme - 1;
	while (*header == ' ')
		header++;
	hl = strlen(header);
	/* every byte of the token is compared whatever the header holds */
	diff |= (unsigned)(hl ^ tl);
	for (size_t i = 0; i < tl; i++)
		diff |= (unsigned char)token[i] ^ (unsigned char)(i < hl ? header[i] : 0);
	return diff == 0;
}
