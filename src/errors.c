#include "errors.h"

const char *
ion_strerror(int err)
{
	switch (err) {
	case ION_OK:
		return "success";
	case ION_ERR_NOMEM:
		return "out of memory";
	case ION_ERR_INVALID:
		return "malformed input";
	case ION_ERR_RANGE:
		return "value out of range";
	case ION_ERR_NOT_FOUND:
		return "not found";
	case ION_ERR_EXISTS:
		return "already exists";
	case ION_ERR_FULL:
		return "capacity reached";
	case ION_ERR_DENIED:
		return "not allowed";
	case ION_ERR_SYSTEM:
		return "system error";
	case ION_ERR_CRYPTO:
		return "crypto library error";
	case ION_ERR_USED:
		return "already used";
	case ION_ERR_PENDING:
		return "pending";
	}
	return "unknown error";
}
