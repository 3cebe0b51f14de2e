/*
 * vcuda's own status codes: whether transport, framing and dispatch worked.
 * A CUDA result is never one of these; it travels inside a reply
 * (DESIGN.md decision 8). Functions return 0 (VCUDA_OK) or a negative code.
 */
#ifndef VCUDA_ERROR_H
#define VCUDA_ERROR_H

#define VCUDA_ERRORS(X)                                                                            \
	X(OK, 0, "success")                                                                        \
	X(E_NOMEM, -1, "out of host memory")                                                       \
	X(E_INVAL, -2, "invalid argument")                                                         \
	X(E_PROTO, -3, "malformed or unexpected message")                                          \
	X(E_TOOBIG, -4, "message or payload larger than allowed")                                  \
	X(E_TIMEOUT, -5, "timed out")                                                              \
	X(E_PEER_LOST, -6, "connection to peer lost")                                              \
	X(E_TRANSPORT, -7, "transport failure")                                                    \
	X(E_VERSION, -8, "protocol version mismatch")                                              \
	X(E_AUTH, -9, "authentication failed")                                                     \
	X(E_NOTFOUND, -10, "not found")                                                            \
	X(E_URL, -11, "unsupported or malformed endpoint URL")                                     \
	X(E_BACKEND, -12, "backend could not be loaded")                                           \
	X(E_FULL, -13, "table full")                                                               \
	X(E_SYSTEM, -14, "system call failed")                                                     \
	X(E_BUSY, -15, "busy; try again shortly")                                                  \
	X(E_MOVED, -16, "the session moved to another server")

enum vcuda_status {
#define VCUDA_ERR_ENUM(name, value, msg) VCUDA_##name = value,
	VCUDA_ERRORS(VCUDA_ERR_ENUM)
#undef VCUDA_ERR_ENUM
};

/* Name ("E_PROTO") and message of a status code; never NULL. */
const char *vcuda_strerror(int status);
const char *vcuda_errname(int status);

#endif
