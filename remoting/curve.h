/*
 * Keys for tcp:// (ZeroMQ CURVE: every connection authenticated and
 * encrypted). A tcp:// guest is its public key: the server accepts only
 * the keys it was given, and each session worker only the key of the guest
 * it serves. Keys are Z85 text, 40 characters; vcuda-keygen writes them.
 *
 * Key files: NAME.key holds "public Z85" and "secret Z85" lines (mode
 * 0600); NAME.pub holds the public key alone. Lines starting with '#' are
 * comments ('#' inside a line is part of a key: Z85 uses it).
 */
#ifndef VCUDA_CURVE_H
#define VCUDA_CURVE_H

#include <stddef.h>
#include <stdint.h>

#define VCUDA_KEY_Z85 41 /* 40 characters and the NUL */

struct vcuda_curve {
	char public_key[VCUDA_KEY_Z85];
	char secret_key[VCUDA_KEY_Z85];
	char server_key[VCUDA_KEY_Z85]; /* a client's: the server's public key */
};

/* Reads a .key file into k's public and secret keys. Returns 0, or
 * VCUDA_E_INVAL with why written. */
int vcuda_curve_read_keyfile(const char *path, struct vcuda_curve *k, char *why, size_t why_len);
/* A public key given as its Z85 text or as the path of a .pub (or .key)
 * file, into out. Returns 0, or VCUDA_E_INVAL with why written. */
int vcuda_curve_read_public(const char *spec, char *out, char *why, size_t why_len);
/* A guest's keys from the environment: VCUDA_KEY (its .key file) and
 * VCUDA_SERVER_KEY (the server's public key or .pub file). Returns 1 when
 * both are set and read, 0 when neither is set, VCUDA_E_INVAL (why
 * written) when one is missing or unreadable. */
int vcuda_curve_from_env(struct vcuda_curve *k, char *why, size_t why_len);
/* Makes a ZeroMQ socket a CURVE server (k's secret key) or client (k's
 * pair and server key); before it binds or connects. 0 or VCUDA_E_TRANSPORT. */
int vcuda_curve_apply(void *sock, const struct vcuda_curve *k, int server);
/* Writes a new key pair as DIR/NAME.key (0600) and DIR/NAME.pub. 0, or
 * VCUDA_E_SYSTEM with why written. */
int vcuda_curve_generate(const char *dir, const char *name, char *why, size_t why_len);

/* The public keys a server accepts. */
struct vcuda_keyset {
	uint8_t (*keys)[32];
	size_t n;
};

/* Loads a file of public keys (one a line, Z85, '#' comments) or a
 * directory of *.pub files. 0, or VCUDA_E_INVAL with why (file and line). */
int vcuda_keyset_load(const char *path, struct vcuda_keyset *s, char *why, size_t why_len);
int vcuda_keyset_has(const struct vcuda_keyset *s, const uint8_t key[32]);
void vcuda_keyset_free(struct vcuda_keyset *s);

/*
 * Authenticates the CURVE clients of every socket of the process's ZeroMQ
 * context (ZAP): allow is called, on a thread of its own, with each
 * client's public key and address, and answers nonzero to let it in. An
 * accepted client's messages carry its Z85 public key as the "User-Id"
 * property. Must be started before any CURVE server socket binds; once per
 * process. 0 or VCUDA_E_TRANSPORT.
 */
typedef int (*vcuda_zap_allow)(void *arg, const uint8_t key[32], const char *address);
int vcuda_zap_start(vcuda_zap_allow allow, void *arg);

#endif
