#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "error.h"
#include "log.h"

int vcuda_log_levels[VCUDA_LOG_NCHANNELS];
static char log_tag[32] = "vcuda";

static const char *const log_channel_names[] = {
#define VCUDA_LOG_CH_NAME(name) #name,
    VCUDA_LOG_CHANNELS(VCUDA_LOG_CH_NAME)
#undef VCUDA_LOG_CH_NAME
};

static const char *const log_level_names[] = {"error", "warn", "info", "debug", "trace"};

static int log_level_parse(const char *s, size_t n)
{
	for (size_t i = 0; i < sizeof(log_level_names) / sizeof(*log_level_names); i++)
		if (strlen(log_level_names[i]) == n && strncasecmp(s, log_level_names[i], n) == 0)
			return (int)i;
	return -1;
}

static int log_channel_parse(const char *s, size_t n)
{
	for (int i = 0; i < VCUDA_LOG_NCHANNELS; i++)
		if (strlen(log_channel_names[i]) == n &&
		    strncasecmp(s, log_channel_names[i], n) == 0)
			return i;
	return -1;
}

static void log_set_all(int level)
{
	for (int i = 0; i < VCUDA_LOG_NCHANNELS; i++)
		vcuda_log_levels[i] = level;
}

/* One item of the spec: "level", "channel", "channel:level" or "all:level". */
static int log_apply_item(const char *item, size_t n)
{
	const char *colon = memchr(item, ':', n);
	size_t name_len = colon ? (size_t)(colon - item) : n;
	int level = colon ? log_level_parse(colon + 1, n - name_len - 1) : VCUDA_LEVEL_INFO;
	int ch;

	if (!colon && (level = log_level_parse(item, n)) >= 0) {
		log_set_all(level);
		return 0;
	}
	if (!colon)
		level = VCUDA_LEVEL_INFO;
	if (level < 0)
		return VCUDA_E_INVAL;
	if (name_len == 3 && strncasecmp(item, "all", 3) == 0) {
		log_set_all(level);
		return 0;
	}
	ch = log_channel_parse(item, name_len);
	if (ch < 0)
		return VCUDA_E_INVAL;
	vcuda_log_levels[ch] = level;
	return 0;
}

int vcuda_log_init(const char *tag, enum vcuda_log_level def, const char *spec)
{
	int rc = 0;

	if (tag)
		snprintf(log_tag, sizeof(log_tag), "%s", tag);
	log_set_all(def);
	if (!spec)
		spec = getenv("VCUDA_LOG");
	while (spec && *spec) {
		size_t n = strcspn(spec, ",");
		if (n && log_apply_item(spec, n) != 0) {
			fprintf(stderr, "%s: ignoring bad VCUDA_LOG item '%.*s'\n", log_tag, (int)n,
				spec);
			rc = VCUDA_E_INVAL;
		}
		spec += n + (spec[n] == ',');
	}
	return rc;
}

void vcuda_log_write(enum vcuda_log_channel ch, enum vcuda_log_level lv, const char *fmt, ...)
{
	char line[1024];
	struct timespec ts;
	struct tm tm;
	va_list ap;
	int n;

	clock_gettime(CLOCK_REALTIME, &ts);
	localtime_r(&ts.tv_sec, &tm);
	n = snprintf(line, sizeof(line), "%02d:%02d:%02d.%03ld %s[%d] %s %s: ", tm.tm_hour,
		     tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000, log_tag, (int)getpid(),
		     log_channel_names[ch], log_level_names[lv]);
	va_start(ap, fmt);
	if (n > 0 && (size_t)n < sizeof(line))
		vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
	va_end(ap);
	/* One write per line keeps lines of concurrent processes whole. */
	n = (int)strnlen(line, sizeof(line) - 2);
	line[n++] = '\n';
	if (write(STDERR_FILENO, line, (size_t)n) < 0)
		return;
}

const char *vcuda_strerror(int status)
{
	switch (status) {
#define VCUDA_ERR_MSG(name, value, msg)                                                            \
	case value:                                                                                \
		return msg;
		VCUDA_ERRORS(VCUDA_ERR_MSG)
#undef VCUDA_ERR_MSG
	}
	return "unknown vcuda status";
}

const char *vcuda_errname(int status)
{
	switch (status) {
#define VCUDA_ERR_NAME(name, value, msg)                                                           \
	case value:                                                                                \
		return #name;
		VCUDA_ERRORS(VCUDA_ERR_NAME)
#undef VCUDA_ERR_NAME
	}
	return "E_UNKNOWN";
}
