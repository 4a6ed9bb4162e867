#include "urlchar.h"

#include <string.h>

bool
ion_url_char(char c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9'))
		return true;
	return c != '\0' && strchr("-._~:/?#[]@!$&'()*+,;=%", c) != NULL;
}
