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
	case ION_ERR_UNAVAIL:
		return "server unavailable";
	case ION_ERR_TIMEOUT:
		return "timed out";
	case ION_ERR_AUTH:
		return "verification failed";
	case ION_ERR_CONFIG:
		return "bad configuration";
	case ION_ERR_CONV:
		return "conversation failed";
	case ION_ERR_NO_USER:
		return "no local account";
	case ION_ERR_REFUSED:
		return "refused at the provider";
	case ION_ERR_ABORTED:
		return "sign-in abandoned";
	case ION_ERR_RETRY:
		return "failed for now, retry";
	}
	return "unknown error";
}
