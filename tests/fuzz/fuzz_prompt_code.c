/*
 * ion_prompt_parse_code() on fuzzed typed text: accepted only as exactly
 * six digits among spaces, tabs and dashes, which come out in order.
 */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "prompt.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *typed = fuzz_strndup(data, size), out[7], digits[7];
	size_t i, n = 0;
	int other = 0;

	memset(out, 'x', sizeof(out));
	for (i = 0; typed[i] != '\0'; i++) {
		if (typed[i] >= '0' && typed[i] <= '9') {
			if (n < 6)
				digits[n] = typed[i];
			n++;
		} else if (strchr(" -\t", typed[i]) == NULL)
			other = 1;
	}
	if (ion_prompt_parse_code(typed, out)) {
		FUZZ_CHECK(n == 6 && !other);
		FUZZ_CHECK(memcmp(out, digits, 6) == 0 && out[6] == '\0');
	} else
		FUZZ_CHECK(n != 6 || other);
	free(typed);
	return 0;
}
