#include "cache.h"

#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "crypto.h"
#include "errors.h"

/*
 * An entry is one file: "pam_ion-cache 1 FETCHED EXPIRES LEN\n" (decimal
 * seconds since the epoch, body length in bytes), then exactly LEN bytes of
 * body.
 */
#define CACHE_MAGIC "pam_ion-cache 1 "
#define CACHE_HEADER_MAX 96
#define CACHE_SUFFIX ".cache"
#define CACHE_NAME_LEN (2 * ION_SHA256_LEN + sizeof(CACHE_SUFFIX) - 1)
#define CACHE_TMP_RANDOM 8	     /* bytes, as hex in the temporary name */
#define CACHE_TMP_FMT ".%.*s.tmp-%s" /* hidden: hash, random hex */
#define CACHE_NUM_DIGITS 19

static const char hexdigits[] = "0123456789abcdef";

static void
hex(const unsigned char *p, size_t len, char *out)
{
	size_t i;

	for (i = 0; i < len; i++) {
		out[2 * i] = hexdigits[p[i] >> 4];
		out[2 * i + 1] = hexdigits[p[i] & 0xf];
	}
	out[2 * len] = '\0';
}

static int
entry_name(const char *url, char name[CACHE_NAME_LEN + 1])
{
	unsigned char digest[ION_SHA256_LEN];
	int r;

	if ((r = ion_sha256(url, strlen(url), NULL, 0, NULL, 0, digest)) != 0)
		return r;
	hex(digest, sizeof(digest), name);
	memcpy(name + 2 * ION_SHA256_LEN, CACHE_SUFFIX, sizeof(CACHE_SUFFIX));
	return 0;
}

/*
 * Opens the cache directory when it is safe to trust: a real directory (not
 * a symlink), owned by root, not writable by group or others.  Anyone who
 * could write there could plant a key set and sign their own tokens.
 */
static int
open_dir(const char *dir, int *ret_fd)
{
	struct stat st;
	int fd, r = ION_ERR_DENIED;

	fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd == -1)
		return errno == ENOENT ? ION_ERR_NOT_FOUND : ION_ERR_DENIED;
	if (fstat(fd, &st) == -1 || !S_ISDIR(st.st_mode) || st.st_uid != 0 ||
	    (st.st_mode & (S_IWGRP | S_IWOTH)) != 0)
		goto out;
	*ret_fd = fd;
	fd = -1; /* transferred */
	r = 0;
out:
	if (fd != -1)
		close(fd);
	return r;
}

/* A decimal without sign or leading zeros; advances *pp past it. */
static bool
parse_num(const char **pp, const char *end, long long *ret)
{
	const char *p = *pp;
	long long v = 0;
	size_t n = 0;

	while (p < end && *p >= '0' && *p <= '9' && n < CACHE_NUM_DIGITS) {
		if (v > (LLONG_MAX - (*p - '0')) / 10)
			return false;
		v = v * 10 + (*p - '0');
		p++;
		n++;
	}
	if (n == 0 || (n > 1 && **pp == '0') ||
	    (p < end && *p >= '0' && *p <= '9'))
		return false;
	*pp = p;
	*ret = v;
	return true;
}

/* The header of buf[0..len); *ret_hlen is its length with the newline. */
static bool
parse_header(const char *buf, size_t len, long long *ret_fetched,
    long long *ret_expires, long long *ret_len, size_t *ret_hlen)
{
	const char *p = buf, *nl, *end;
	long long fetched, expires, blen;

	end = buf + (len < CACHE_HEADER_MAX ? len : CACHE_HEADER_MAX);
	if ((nl = memchr(buf, '\n', (size_t)(end - buf))) == NULL)
		return false;
	if ((size_t)(nl - buf) < sizeof(CACHE_MAGIC) - 1 ||
	    memcmp(p, CACHE_MAGIC, sizeof(CACHE_MAGIC) - 1) != 0)
		return false;
	p += sizeof(CACHE_MAGIC) - 1;
	if (!parse_num(&p, nl, &fetched) || p >= nl || *p++ != ' ' ||
	    !parse_num(&p, nl, &expires) || p >= nl || *p++ != ' ' ||
	    !parse_num(&p, nl, &blen) || p != nl)
		return false;
	*ret_fetched = fetched;
	*ret_expires = expires;
	*ret_len = blen;
	*ret_hlen = (size_t)(nl - buf) + 1;
	return true;
}

int
ion_cache_load(const char *dir, const char *url, time_t now, char **ret_body,
    size_t *ret_len, time_t *ret_fetched)
{
	char name[CACHE_NAME_LEN + 1];
	struct stat st;
	long long fetched, expires, blen;
	size_t len = 0, hlen, fsize;
	char *buf = NULL, *body = NULL;
	ssize_t n;
	int dfd = -1, fd = -1, r = ION_ERR_NOT_FOUND;

	if (dir == NULL || url == NULL || dir[0] != '/' || now < 0)
		goto out;
	if ((r = entry_name(url, name)) != 0)
		goto out;
	r = ION_ERR_NOT_FOUND;
	if (open_dir(dir, &dfd) != 0)
		goto out;
	fd = openat(dfd, name,
	    O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd == -1)
		goto out;
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode) || st.st_uid != 0 ||
	    (st.st_mode & (S_IWGRP | S_IWOTH)) != 0 || st.st_size < 0 ||
	    st.st_size > CACHE_HEADER_MAX + ION_CACHE_MAX_BODY)
		goto out;
	fsize = (size_t)st.st_size;
	if ((buf = malloc(fsize + 1)) == NULL) {
		r = ION_ERR_NOMEM;
		goto out;
	}
	/* One byte more than fstat said, to see a file that grew. */
	while (len < fsize + 1) {
		n = read(fd, buf + len, fsize + 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	if (len != fsize ||
	    !parse_header(buf, len, &fetched, &expires, &blen, &hlen))
		goto out;
	/*
	 * The length must account for the file exactly; the times must make
	 * sense (fetched no later than now: an entry from the future is one
	 * written under another clock, so not trusted), and the entry must
	 * still be fresh.
	 */
	if (blen > ION_CACHE_MAX_BODY || (size_t)blen != len - hlen ||
	    fetched > expires || expires - fetched > ION_CACHE_MAX_S ||
	    fetched > (long long)now || (long long)now >= expires)
		goto out;
	if ((body = malloc((size_t)blen + 1)) == NULL) {
		r = ION_ERR_NOMEM;
		goto out;
	}
	memcpy(body, buf + hlen, (size_t)blen);
	body[blen] = '\0';
	*ret_body = body;
	body = NULL; /* transferred */
	if (ret_len != NULL)
		*ret_len = (size_t)blen;
	if (ret_fetched != NULL)
		*ret_fetched = (time_t)fetched;
	r = 0;
out:
	free(body);
	free(buf);
	if (fd != -1)
		close(fd);
	if (dfd != -1)
		close(dfd);
	return r;
}

static int
write_all(int fd, const char *p, size_t len)
{
	ssize_t n;

	while (len > 0) {
		n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return ION_ERR_SYSTEM;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int
ion_cache_store(const char *dir, const char *url, const char *body, size_t len,
    const char *cache_control, time_t now)
{
	char name[CACHE_NAME_LEN + 1];
	char tmp[sizeof(CACHE_TMP_FMT) + 2 * ION_SHA256_LEN +
	    2 * CACHE_TMP_RANDOM];
	char header[CACHE_HEADER_MAX];
	unsigned char rnd[CACHE_TMP_RANDOM];
	char rhex[2 * CACHE_TMP_RANDOM + 1];
	long lifetime;
	int dfd = -1, fd = -1, hlen, r = ION_ERR_INVALID;
	bool created = false;

	if (dir == NULL || url == NULL || (body == NULL && len > 0) ||
	    dir[0] != '/' || now < 0 ||
	    (long long)now > LLONG_MAX - ION_CACHE_MAX_S)
		goto out;
	r = ION_ERR_RANGE;
	if (len > ION_CACHE_MAX_BODY)
		goto out;
	if ((r = entry_name(url, name)) != 0)
		goto out;
	lifetime = ion_cache_lifetime(cache_control);

	/* Only the last component is created; its parent must exist. */
	if (mkdir(dir, 0700) == -1 && errno != EEXIST) {
		r = ION_ERR_SYSTEM;
		goto out;
	}
	if ((r = open_dir(dir, &dfd)) != 0) {
		r = ION_ERR_DENIED;
		goto out;
	}
	if (lifetime == 0) {
		/* Do not keep serving what the provider now says not to. */
		if (unlinkat(dfd, name, 0) == -1 && errno != ENOENT) {
			r = ION_ERR_SYSTEM;
			goto out;
		}
		r = 0;
		goto out;
	}
	hlen = snprintf(header, sizeof(header), "%s%lld %lld %zu\n",
	    CACHE_MAGIC, (long long)now, (long long)now + lifetime, len);
	if (hlen < 0 || (size_t)hlen >= sizeof(header)) {
		r = ION_ERR_RANGE;
		goto out;
	}

	/*
	 * mkstemp's job, done relative to the directory we checked: a random
	 * name created with O_EXCL, so the path cannot be redirected between
	 * the check and the write.
	 */
	if ((r = ion_random_bytes(rnd, sizeof(rnd))) != 0)
		goto out;
	hex(rnd, sizeof(rnd), rhex);
	snprintf(
	    tmp, sizeof(tmp), CACHE_TMP_FMT, 2 * ION_SHA256_LEN, name, rhex);
	fd = openat(dfd, tmp,
	    O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY,
	    0600);
	if (fd == -1) {
		r = ION_ERR_SYSTEM;
		goto out;
	}
	created = true;
	r = ION_ERR_SYSTEM;
	if (write_all(fd, header, (size_t)hlen) != 0 ||
	    write_all(fd, body, len) != 0 || fchmod(fd, 0600) == -1 ||
	    fsync(fd) == -1)
		goto out;
	if (close(fd) == -1) {
		fd = -1;
		goto out;
	}
	fd = -1;
	if (renameat(dfd, tmp, dfd, name) == -1)
		goto out;
	created = false;
	/* The rename itself is durable once the directory is synced. */
	(void)fsync(dfd);
	r = 0;
out:
	if (fd != -1)
		close(fd);
	if (created)
		(void)unlinkat(dfd, tmp, 0);
	if (dfd != -1)
		close(dfd);
	return r;
}

static bool
is_ows(char c)
{
	return c == ' ' || c == '\t';
}

/*
 * The length of one directive starting at s: up to the next ',' outside a
 * quoted string (so that 'private="a, max-age=1"' stays one directive).
 */
static size_t
directive_len(const char *s)
{
	size_t i = 0;
	bool quoted = false;

	for (; s[i] != '\0'; i++) {
		if (quoted && s[i] == '\\' && s[i + 1] != '\0')
			i++;
		else if (s[i] == '"')
			quoted = !quoted;
		else if (!quoted && s[i] == ',')
			break;
	}
	return i;
}

/* delta-seconds (RFC 9111 1.2.2), maybe quoted; saturates; -1 when bad. */
static long
delta_seconds(const char *v, size_t len)
{
	long n = 0;
	size_t i;

	if (len >= 2 && v[0] == '"' && v[len - 1] == '"') {
		v++;
		len -= 2;
	}
	if (len == 0)
		return -1;
	for (i = 0; i < len; i++) {
		if (v[i] < '0' || v[i] > '9')
			return -1;
		if (n <= ION_CACHE_MAX_S)
			n = n * 10 + (v[i] - '0');
	}
	return n;
}

long
ion_cache_lifetime(const char *cache_control)
{
	const char *p = cache_control, *name, *eq, *val;
	size_t dlen, nlen, vlen;
	long best = -1, v;

	if (p == NULL)
		return ION_CACHE_DEFAULT_S;
	for (; *p != '\0'; p += dlen + (p[dlen] == ',')) {
		dlen = directive_len(p);
		name = p;
		while (name < p + dlen && is_ows(*name))
			name++;
		eq = memchr(name, '=', (size_t)(p + dlen - name));
		nlen = (size_t)((eq != NULL ? eq : p + dlen) - name);
		while (nlen > 0 && is_ows(name[nlen - 1]))
			nlen--;
		/* no-cache="field" still means: check before each reuse. */
		if ((nlen == 8 && strncasecmp(name, "no-store", 8) == 0) ||
		    (nlen == 8 && strncasecmp(name, "no-cache", 8) == 0))
			return 0;
		if (nlen != 7 || strncasecmp(name, "max-age", 7) != 0 ||
		    eq == NULL)
			continue;
		val = eq + 1;
		while (val < p + dlen && is_ows(*val))
			val++;
		vlen = (size_t)(p + dlen - val);
		while (vlen > 0 && is_ows(val[vlen - 1]))
			vlen--;
		/* Of several max-age values, the shortest. */
		if ((v = delta_seconds(val, vlen)) >= 0 &&
		    (best < 0 || v < best))
			best = v;
	}
	if (best < 0)
		return ION_CACHE_DEFAULT_S;
	if (best < ION_CACHE_MIN_S)
		return ION_CACHE_MIN_S;
	return best > ION_CACHE_MAX_S ? ION_CACHE_MAX_S : best;
}
