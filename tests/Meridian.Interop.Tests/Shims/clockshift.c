/*
 * A time interposer for the tests, loaded with LD_PRELOAD: CLOCK_REALTIME (and gettimeofday and time) run
 * CLOCK_SHIFT seconds (a decimal, default 1000) ahead of the kernel's clock, for the process it is loaded into only.
 * It replaces the calls as libfaketime does; a daemon whose calls bypass the global symbol scope would not see it.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdlib.h>
#include <sys/time.h>
#include <time.h>

static long long shift_ns(void)
{
    static long long cached = -1;
    if (cached < 0) {
        const char *text = getenv("CLOCK_SHIFT");
        double seconds = text ? atof(text) : 1000.0;
        cached = (long long)(seconds * 1e9);
    }
    return cached;
}

static void shift(struct timespec *ts)
{
    long long ns = (long long)ts->tv_sec * 1000000000LL + ts->tv_nsec + shift_ns();
    ts->tv_sec = ns / 1000000000LL;
    ts->tv_nsec = ns % 1000000000LL;
}

int clock_gettime(clockid_t id, struct timespec *ts)
{
    static int (*real)(clockid_t, struct timespec *);
    if (!real)
        real = (int (*)(clockid_t, struct timespec *))dlsym(RTLD_NEXT, "clock_gettime");
    int result = real(id, ts);
    if (result == 0 && (id == CLOCK_REALTIME || id == CLOCK_REALTIME_COARSE))
        shift(ts);
    return result;
}

int gettimeofday(struct timeval *tv, void *tz)
{
    struct timespec ts;
    int result = clock_gettime(CLOCK_REALTIME, &ts);
    if (result == 0 && tv) {
        tv->tv_sec = ts.tv_sec;
        tv->tv_usec = ts.tv_nsec / 1000;
    }
    (void)tz;
    return result;
}

time_t time(time_t *out)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    if (out)
        *out = ts.tv_sec;
    return ts.tv_sec;
}
