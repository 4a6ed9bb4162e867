/*
 * ion_cache_lifetime() on a fuzzed Cache-Control value.  The answer is 0
 * (do not store) or a lifetime within the clamps.
 */
#include <stdlib.h>

#include "cache.h"
#include "fuzz.h"

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	FUZZ_CHECK(ion_cache_lifetime(NULL) == ION_CACHE_DEFAULT_S);
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *value = fuzz_strndup(data, size);
	long t = ion_cache_lifetime(value);

	FUZZ_CHECK(t == 0 || (t >= ION_CACHE_MIN_S && t <= ION_CACHE_MAX_S));
	free(value);
	return 0;
}
