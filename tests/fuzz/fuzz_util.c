#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <sanitizer/common_interface_defs.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz.h"

static char dir[64];

void
fuzz_fail(const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	int n;

	n = snprintf(msg, sizeof(msg), "fuzz property violated: ");
	va_start(ap, fmt);
	vsnprintf(msg + n, sizeof(msg) - (size_t)n, fmt, ap);
	va_end(ap);
	/*
	 * Through the sanitizer's report channel: with -close_fd_mask=2 it is
	 * the only way to the terminal (libFuzzer keeps its own copy of it).
	 */
	__sanitizer_report_error_summary(msg);
	abort();
}

void
fuzz_log(const char *fmt, ...)
{
	static int verbose = -1;
	va_list ap;

	if (verbose == -1)
		verbose = getenv("FUZZ_VERBOSE") != NULL;
	if (!verbose)
		return;
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

void *
fuzz_malloc(size_t size)
{
	void *p = malloc(size != 0 ? size : 1);

	if (p == NULL)
		fuzz_fail("out of memory (%zu bytes)", size);
	return p;
}

char *
fuzz_strndup(const void *data, size_t size)
{
	char *s = fuzz_malloc(size + 1);

	if (size > 0)
		memcpy(s, data, size);
	s[size] = '\0';
	return s;
}

static int
remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void
remove_dir(void)
{
	if (dir[0] != '\0')
		(void)nftw(dir, remove_one, 16, FTW_DEPTH | FTW_PHYS);
}

const char *
fuzz_dir(void)
{
	const char *tmp;

	if (dir[0] != '\0')
		return dir;
	/* TMPDIR is the test runner's to choose; the fuzzer is not setuid. */
	if ((tmp = getenv("TMPDIR")) == NULL || tmp[0] != '/' ||
	    strlen(tmp) > sizeof(dir) - 24)
		tmp = "/tmp";
	snprintf(dir, sizeof(dir), "%s/pam_ion-fuzz-XXXXXX", tmp);
	if (mkdtemp(dir) == NULL)
		fuzz_fail("mkdtemp %s failed", dir);
	atexit(remove_dir);
	return dir;
}

char *
fuzz_path(const char *name)
{
	const char *d = fuzz_dir();
	char *p = fuzz_malloc(strlen(d) + 1 + strlen(name) + 1);

	sprintf(p, "%s/%s", d, name);
	return p;
}

void
fuzz_write_file(const char *path, const void *data, size_t size, mode_t mode)
{
	const char *p = data;
	ssize_t n;
	int fd;

	/*
	 * A new file each time, not O_TRUNC: ext4 flushes a file truncated
	 * to zero when it is closed (auto_da_alloc), which costs a disk
	 * write per input.
	 */
	if (unlink(path) == -1 && errno != ENOENT)
		fuzz_fail("cannot remove %s", path);
	fd = open(
	    path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
	if (fd == -1 || fchmod(fd, mode) == -1)
		fuzz_fail("cannot write %s", path);
	while (size > 0) {
		if ((n = write(fd, p, size)) <= 0)
			fuzz_fail("cannot write %s", path);
		p += n;
		size -= (size_t)n;
	}
	if (close(fd) == -1)
		fuzz_fail("cannot close %s", path);
}

void
fuzz_split2(const uint8_t *data, size_t size, size_t *ret_len,
    const uint8_t **ret_rest, size_t *ret_rest_len)
{
	size_t i;

	for (i = 0; i + 1 < size; i++)
		if (data[i] == '\0' && data[i + 1] == '\0') {
			*ret_len = i;
			*ret_rest = data + i + 2;
			*ret_rest_len = size - i - 2;
			return;
		}
	*ret_len = size;
	*ret_rest = NULL;
	*ret_rest_len = 0;
}

char **
fuzz_argv(const char *first, const uint8_t *data, size_t size, size_t max,
    int *ret_argc)
{
	size_t n = first != NULL ? 1 : 0, i, start;
	size_t flen = first != NULL ? strlen(first) + 1 : 0;
	char **argv, *strings;

	/* Room for every string of data, each NUL-terminated, and first. */
	argv = fuzz_malloc((max + 2) * sizeof(*argv) + flen + size + 1);
	strings = (char *)(argv + max + 2);
	if (first != NULL) {
		memcpy(strings, first, flen);
		argv[0] = strings;
		strings += flen;
	}
	if (size > 0)
		memcpy(strings, data, size);
	strings[size] = '\0';
	for (start = 0, i = 0; size > 0 && i <= size; i++) {
		if (i < size && strings[i] != '\0')
			continue;
		if (i == size && start == size)
			break; /* no empty string after a final NUL */
		if (n == max + (first != NULL ? 1 : 0))
			break;
		argv[n++] = strings + start;
		start = i + 1;
	}
	argv[n] = NULL;
	*ret_argc = (int)n;
	return argv;
}

char *
fuzz_expand(const uint8_t *data, size_t size, const char *const *tokens,
    const char *const *values, size_t ntokens, size_t *ret_len)
{
	size_t i, t, o = 0, cap = size + 1, vmax = 0, tmin = SIZE_MAX;
	size_t tlen[32], vlen[32];
	char *out;

	if (ntokens > 32)
		fuzz_fail("fuzz_expand: too many tokens");
	for (t = 0; t < ntokens; t++) {
		tlen[t] = strlen(tokens[t]);
		vlen[t] = strlen(values[t]);
		if (vlen[t] > vmax)
			vmax = vlen[t];
		if (tlen[t] < tmin)
			tmin = tlen[t];
	}
	/* At most size / tmin replacements, each at most vmax long. */
	if (ntokens > 0)
		cap += size / tmin * vmax;
	out = fuzz_malloc(cap);
	for (i = 0; i < size;) {
		for (t = 0; t < ntokens; t++)
			if (data[i] == (uint8_t)tokens[t][0] &&
			    tlen[t] <= size - i &&
			    memcmp(data + i, tokens[t], tlen[t]) == 0)
				break;
		if (t < ntokens) {
			memcpy(out + o, values[t], vlen[t]);
			o += vlen[t];
			i += tlen[t];
		} else
			out[o++] = (char)data[i++];
	}
	out[o] = '\0';
	*ret_len = o;
	return out;
}
