/* procpool bench — the physical limits the engine is compared with.
 *
 *   bench_floor pingpong ROUNDS [apart]
 *                                 one byte back and forth between two processes over two
 *                                 pipes: the floor of a cross-process round trip; apart
 *                                 keeps the two processes on two different CPUs
 *   bench_floor memcpy BYTES REPS memcpy of BYTES between two buffers: the ceiling of
 *                                 moving a payload of that size once
 *   bench_floor copies BYTES REPS N [fresh]
 *                                 N copies (1 to 3) of BYTES in a chain through N + 1
 *                                 buffers, back to back, each shared in chunks by one thread
 *                                 per core (at most four) and written around the caches, as
 *                                 the engine copies: the ceiling of an echo that copies its
 *                                 payload N times. With fresh, the last buffer is new memory
 *                                 for every repetition, kept until the end, as a caller that
 *                                 keeps its results needs: allocated the cheapest way there is
 *                                 (on huge-page boundaries, asking for huge pages), its page
 *                                 faults and the zeroing of its pages included
 *   bench_floor spin STEPS PROCS  PROCS processes each running STEPS steps of a CPU-bound
 *                                 loop: what the machine gives CPU-bound work right now
 *
 * Prints one JSON object on stdout: the best repetition, and for copies the median too.
 */
#define _GNU_SOURCE
#if defined(__SSE2__)
#include <emmintrin.h>
#endif
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int64_t nowNs(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int compareI64(const void *a, const void *b)
{
    const int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* The n-th CPU this process may run on, or -1. */
static int allowedCpu(int n)
{
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) != 0)
        return -1;
    for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu)
        if (CPU_ISSET(cpu, &set) && n-- == 0)
            return cpu;
    return -1;
}

static void runOn(int cpu)
{
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    if (sched_setaffinity(0, sizeof set, &set) != 0)
        perror("bench_floor: pinning to a CPU failed, measuring unpinned");
}

/* apart: the two processes on two different CPUs, so that every wake-up crosses to another
 * core. Left to the scheduler, a pair that wakes each other often shares one core, where a
 * wake-up is a mere context switch (about 5 us a round trip instead of 40 on the machine
 * this was written on). */
static int pingpong(long rounds, int apart)
{
    int toChild[2], toParent[2];
    if (pipe(toChild) || pipe(toParent))
        return 1;
    const int cpus[2] = {allowedCpu(0), allowedCpu(1)};
    if (apart && cpus[1] < 0) {
        fprintf(stderr, "bench_floor: pingpong apart needs two CPUs\n");
        return 2;
    }
    const pid_t pid = fork();
    if (pid < 0)
        return 1;
    if (apart)
        runOn(cpus[pid == 0]);
    char byte = 0;
    if (pid == 0) {
        close(toChild[1]);
        close(toParent[0]);
        while (read(toChild[0], &byte, 1) == 1)
            if (write(toParent[1], &byte, 1) != 1)
                break;
        _exit(0);
    }
    close(toChild[0]);
    close(toParent[1]);
    int64_t *samples = malloc(sizeof(int64_t) * (size_t)rounds);
    const long warmup = rounds / 10;
    for (long i = -warmup; i < rounds; ++i) {
        const int64_t t0 = nowNs();
        if (write(toChild[1], &byte, 1) != 1 || read(toParent[0], &byte, 1) != 1)
            return 1;
        if (i >= 0)
            samples[i] = nowNs() - t0;
    }
    close(toChild[1]);
    waitpid(pid, NULL, 0);
    qsort(samples, (size_t)rounds, sizeof(int64_t), compareI64);
    printf("{\"workload\": \"pingpong\", \"rounds\": %ld, \"median_us\": %.3f, \"p99_us\": %.3f}\n",
           rounds, samples[rounds / 2] / 1000.0, samples[(rounds * 99) / 100] / 1000.0);
    free(samples);
    return 0;
}

static int compareDouble(const void *a, const void *b)
{
    const double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Sorts \a samples and returns their median. */
static double median(double *samples, long count)
{
    qsort(samples, (size_t)count, sizeof(double), compareDouble);
    return samples[count / 2];
}

static int copy(long bytes, long reps)
{
    char *src = malloc((size_t)bytes), *dst = malloc((size_t)bytes);
    double *samples = malloc(sizeof(double) * (size_t)reps);
    memset(src, 7, (size_t)bytes);
    memset(dst, 0, (size_t)bytes);
    for (long i = 0; i < reps; ++i) {
        const int64_t t0 = nowNs();
        memcpy(dst, src, (size_t)bytes);
        samples[i] = (nowNs() - t0) / 1e9;
        src[i % bytes] ^= dst[(i * 7) % bytes]; /* keep the copy observable */
    }
    const double typical = median(samples, reps), best = samples[0];
    printf("{\"workload\": \"memcpy\", \"bytes\": %ld, \"seconds\": %.9f, \"mib_per_s\": %.1f, "
           "\"median_mib_per_s\": %.1f}\n",
           bytes, best, bytes / best / 1048576.0, bytes / typical / 1048576.0);
    free(samples);
    free(src);
    free(dst);
    return 0;
}

/* One chunk of a copy, with non-temporal stores where SSE2 exists (sizes are multiples of 64
 * and buffers page-aligned here). */
static void streamCopy(char *to, const char *from, size_t size)
{
#if defined(__SSE2__)
    for (size_t i = 0; i < size; i += 64) {
        const __m128i *in = (const __m128i *)(from + i);
        __m128i *out = (__m128i *)(to + i);
        const __m128i a = _mm_load_si128(in), b = _mm_load_si128(in + 1);
        const __m128i c = _mm_load_si128(in + 2), d = _mm_load_si128(in + 3);
        _mm_stream_si128(out, a);
        _mm_stream_si128(out + 1, b);
        _mm_stream_si128(out + 2, c);
        _mm_stream_si128(out + 3, d);
    }
    _mm_sfence();
#else
    memcpy(to, from, size);
#endif
}

enum { maxBuffers = 4, maxThreads = 4, chunk = 512 * 1024 };

/* The echo's chain: the caller's array, the two rings and the result (or, when the result is
 * handed out where it lies in the ring, one copy fewer). The threads take chunks of
 * each copy from a shared counter, as the engine's copy helpers do (a thread that the host
 * holds back then leaves its share to the others); the barriers finish every copy before the
 * next starts, as a hand-over between processes does. */
static struct
{
    char *buffers[maxBuffers];
    int count; /* buffers in the chain: one more than the copies */
    size_t size; /* a multiple of 64 */
    long reps;
    int threads;
    atomic_size_t next[maxBuffers - 1]; /* the next chunk of each copy */
    pthread_barrier_t start, done;
} chain;

static void copyChunks(void)
{
    for (int k = 0; k + 1 < chain.count; ++k) {
        pthread_barrier_wait(&chain.start);
        for (size_t at; (at = atomic_fetch_add(&chain.next[k], chunk)) < chain.size;)
            streamCopy(chain.buffers[k + 1] + at, chain.buffers[k] + at,
                       chain.size - at < chunk ? chain.size - at : chunk);
        pthread_barrier_wait(&chain.done);
    }
}

static void *helper(void *unused)
{
    (void)unused;
    for (long r = 0; r < chain.reps; ++r)
        copyChunks();
    return NULL;
}

/* New memory for one result: on huge-page boundaries, with huge pages asked for. */
static char *freshBuffer(size_t size)
{
    const size_t huge = 2 * 1024 * 1024;
    const size_t rounded = (size + huge - 1) / huge * huge;
    char *buffer = aligned_alloc(huge, rounded);
    if (buffer)
        madvise(buffer, rounded, MADV_HUGEPAGE);
    return buffer;
}

static int copies(long bytes, long reps, int count, int fresh)
{
    if (bytes < 1 || reps < 1 || count < 1 || count >= maxBuffers)
        return 2;
    chain.count = count + 1;
    const long cores = sysconf(_SC_NPROCESSORS_ONLN);
    chain.threads = cores < 1 ? 1 : cores > maxThreads ? maxThreads : (int)cores;
    chain.size = ((size_t)bytes + 63) & ~(size_t)63;
    chain.reps = reps;
    const size_t allocated = (chain.size + 4095) & ~(size_t)4095;
    for (int k = 0; k < chain.count; ++k) {
        if (!(chain.buffers[k] = aligned_alloc(4096, allocated)))
            return 1;
        memset(chain.buffers[k], k, allocated);
    }
    char **results = calloc((size_t)reps, sizeof(char *)); /* with fresh: kept to the end */
    double *samples = malloc(sizeof(double) * (size_t)reps);
    pthread_barrier_init(&chain.start, NULL, (unsigned)chain.threads);
    pthread_barrier_init(&chain.done, NULL, (unsigned)chain.threads);
    pthread_t helpers[maxThreads];
    for (int i = 1; i < chain.threads; ++i)
        if (pthread_create(&helpers[i], NULL, helper, NULL) != 0)
            return 1;
    for (long r = 0; r < reps; ++r) {
        for (int k = 0; k + 1 < chain.count; ++k)
            atomic_store(&chain.next[k], 0);
        const int64_t t0 = nowNs();
        if (fresh && !(chain.buffers[count] = results[r] = freshBuffer(chain.size)))
            return 1;
        copyChunks();
        samples[r] = (nowNs() - t0) / 1e9;
    }
    for (int i = 1; i < chain.threads; ++i)
        pthread_join(helpers[i], NULL);
    if (chain.buffers[chain.count - 1][bytes - 1] != 0) /* the first buffer's bytes arrived */
        return 1;
    const double typical = median(samples, reps), best = samples[0];
    printf("{\"workload\": \"copies\", \"bytes\": %ld, \"copies\": %d, \"fresh\": %s, "
           "\"threads\": %d, \"seconds\": %.9f, \"mib_per_s\": %.1f, \"median_mib_per_s\": %.1f}\n",
           bytes, count, fresh ? "true" : "false", chain.threads, best, bytes / best / 1048576.0,
           bytes / typical / 1048576.0);
    if (fresh)
        chain.buffers[count] = NULL; /* among the results */
    for (int k = 0; k < chain.count; ++k)
        free(chain.buffers[k]);
    for (long r = 0; r < reps; ++r)
        free(results[r]);
    free(results);
    free(samples);
    return 0;
}

static int spin(long steps, int procs)
{
    const int64_t t0 = nowNs();
    for (int p = 0; p < procs; ++p) {
        const pid_t pid = fork();
        if (pid < 0)
            return 1;
        if (pid == 0) {
            volatile uint64_t sink;
            uint64_t x = (uint64_t)steps;
            for (long i = 0; i < steps; ++i)
                x = x * 6364136223846793005ULL + 1442695040888963407ULL;
            sink = x;
            (void)sink;
            _exit(0);
        }
    }
    while (wait(NULL) > 0) {
    }
    printf("{\"workload\": \"spin\", \"procs\": %d, \"seconds\": %.6f}\n", procs,
           (nowNs() - t0) / 1e9);
    return 0;
}

int main(int argc, char **argv)
{
    signal(SIGPIPE, SIG_IGN);
    if (argc == 3 && strcmp(argv[1], "pingpong") == 0)
        return pingpong(atol(argv[2]), 0);
    if (argc == 4 && strcmp(argv[1], "pingpong") == 0 && strcmp(argv[3], "apart") == 0)
        return pingpong(atol(argv[2]), 1);
    if (argc == 4 && strcmp(argv[1], "memcpy") == 0)
        return copy(atol(argv[2]), atol(argv[3]));
    if (argc == 5 && strcmp(argv[1], "copies") == 0)
        return copies(atol(argv[2]), atol(argv[3]), atoi(argv[4]), 0);
    if (argc == 6 && strcmp(argv[1], "copies") == 0 && strcmp(argv[5], "fresh") == 0)
        return copies(atol(argv[2]), atol(argv[3]), atoi(argv[4]), 1);
    if (argc == 4 && strcmp(argv[1], "spin") == 0)
        return spin(atol(argv[2]), atoi(argv[3]));
    fprintf(stderr, "usage: bench_floor pingpong ROUNDS [apart] | memcpy BYTES REPS | "
                    "copies BYTES REPS N [fresh] | spin STEPS PROCS\n");
    return 2;
}
