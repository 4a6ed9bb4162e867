/*
 * What every fuzz target shares: the libFuzzer entry points, a private
 * directory for the files the code under test insists on reading, and the
 * small input conventions the targets use (see README.md).
 */
#ifndef FUZZ_H
#define FUZZ_H

#include <sys/types.h>

#include <stddef.h>
#include <stdint.h>

/* The libFuzzer entry points (declared here for -Wmissing-prototypes). */
int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Where a fuzz target breaks a property: prints the reason and aborts. */
void fuzz_fail(const char *fmt, ...)
    __attribute__((format(printf, 1, 2), noreturn));

#define FUZZ_CHECK(cond)                                                       \
	do {                                                                   \
		if (!(cond))                                                   \
			fuzz_fail("%s:%d: %s", __FILE__, __LINE__, #cond);     \
	} while (0)

/*
 * With FUZZ_VERBOSE set in the environment, targets say what each input
 * did (on stderr): handy when writing seeds, run with -runs=0.
 */
void fuzz_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* malloc that aborts on failure: a harness has no use for ENOMEM. */
void *fuzz_malloc(size_t size);

/* A NUL-terminated copy of data[0..size) (which may hold NULs itself). */
char *fuzz_strndup(const void *data, size_t size);

/*
 * This process's private directory (mkdtemp, so root-owned and 0700 when
 * the fuzzer runs as root, as in CI), made on first use and removed with
 * everything in it at exit.
 */
const char *fuzz_dir(void);

/* dir + "/" + name, malloc'd. */
char *fuzz_path(const char *name);

/* Writes data to path (created or truncated) with exactly this mode. */
void fuzz_write_file(
    const char *path, const void *data, size_t size, mode_t mode);

/*
 * Splits data at the first "\0\0": the part before it goes to *ret_len,
 * the part after it to *ret_rest and *ret_rest_len; without the separator
 * *ret_rest is NULL.
 */
void fuzz_split2(const uint8_t *data, size_t size, size_t *ret_len,
    const uint8_t **ret_rest, size_t *ret_rest_len);

/*
 * The NUL-separated strings of data[0..size) as a NULL-terminated vector
 * of at most max strings (further ones are dropped), after first, when
 * first is not NULL.  One allocation: free() the vector.
 */
char **fuzz_argv(const char *first, const uint8_t *data, size_t size,
    size_t max, int *ret_argc);

/*
 * A copy of data[0..size) with every occurrence of each tokens[i]
 * replaced by values[i] (ntokens pairs), NUL-terminated; *ret_len is the
 * length without the NUL.
 */
char *fuzz_expand(const uint8_t *data, size_t size, const char *const *tokens,
    const char *const *values, size_t ntokens, size_t *ret_len);

#endif
