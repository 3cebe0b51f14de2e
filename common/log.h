/*
 * Logging by channel. VCUDA_LOG selects what is printed:
 *   VCUDA_LOG=debug                 every channel at debug
 *   VCUDA_LOG=remoting,server:trace remoting at info, server at trace
 *   VCUDA_LOG=all:warn,shim:debug   everything at warn, shim at debug
 * A bare channel name means that channel at info. Levels: error, warn,
 * info, debug, trace. Messages go to stderr, one line each, prefixed with
 * the program tag, pid and channel.
 */
#ifndef VCUDA_LOG_H
#define VCUDA_LOG_H

#include <stdarg.h>

#define VCUDA_LOG_CHANNELS(X)                                                                      \
	X(core)                                                                                    \
	X(remoting)                                                                                \
	X(server)                                                                                  \
	X(shim)                                                                                    \
	X(translators)                                                                             \
	X(emulator)

enum vcuda_log_channel {
#define VCUDA_LOG_CH_ENUM(name) VCUDA_LOG_##name,
	VCUDA_LOG_CHANNELS(VCUDA_LOG_CH_ENUM)
#undef VCUDA_LOG_CH_ENUM
	    VCUDA_LOG_NCHANNELS
};

enum vcuda_log_level {
	VCUDA_LEVEL_ERROR,
	VCUDA_LEVEL_WARN,
	VCUDA_LEVEL_INFO,
	VCUDA_LEVEL_DEBUG,
	VCUDA_LEVEL_TRACE,
};

/*
 * Sets the program tag and default level, then applies a spec (NULL: the
 * VCUDA_LOG environment variable). Returns 0, or VCUDA_E_INVAL for a spec
 * it cannot parse (the valid parts still apply). Safe to call again.
 */
int vcuda_log_init(const char *tag, enum vcuda_log_level def, const char *spec);

extern int vcuda_log_levels[VCUDA_LOG_NCHANNELS];

static inline int vcuda_log_enabled(enum vcuda_log_channel ch, enum vcuda_log_level lv)
{
	return (int)lv <= vcuda_log_levels[ch];
}

void vcuda_log_write(enum vcuda_log_channel ch, enum vcuda_log_level lv, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define VLOG(ch, lv, ...)                                                                          \
	do {                                                                                       \
		if (vcuda_log_enabled(VCUDA_LOG_##ch, VCUDA_LEVEL_##lv))                           \
			vcuda_log_write(VCUDA_LOG_##ch, VCUDA_LEVEL_##lv, __VA_ARGS__);            \
	} while (0)

#define VERR(ch, ...)	VLOG(ch, ERROR, __VA_ARGS__)
#define VWARN(ch, ...)	VLOG(ch, WARN, __VA_ARGS__)
#define VINFO(ch, ...)	VLOG(ch, INFO, __VA_ARGS__)
#define VDEBUG(ch, ...) VLOG(ch, DEBUG, __VA_ARGS__)
#define VTRACE(ch, ...) VLOG(ch, TRACE, __VA_ARGS__)

#endif
