/* An open-loop, constant-arrival-rate HTTP/1.1 load generator (issue 14).
 *
 * wrk keeps N connections busy: when the server slows down it sends less, and its
 * latencies hide the queueing (coordinated omission). Here request i is due at
 * t0 + i/rate whatever happened before; its latency is measured from that due
 * moment, so time spent waiting for a free connection or in the server's queue
 * counts. Requests are taken round-robin from a file of prebuilt raw requests,
 * each preceded by a line with its length in bytes (bench/loadgen.py writes it).
 *
 *   openloop HOST PORT REQUESTS RATE SECONDS CONNECTIONS OUT.json [IDS.txt [STATUS.txt]]
 *
 * OUT.json: sent, completed, statuses, latency percentiles (ms), completions per
 * second (any status) and 2xx answers per second (accepted, not refused). IDS.txt (optional): for each 2xx response, the value of its first "id"
 * field and the wall-clock microsecond it was due, to follow cases downstream.
 * STATUS.txt (optional): one line per scheduled request, in order: its HTTP status,
 * -1 for a connection error, 0 if never answered; so that a caller can retry exactly
 * the requests that were refused or lost, as a channel would.
 * Built by `make bench` with gcc; C, so the generator is not the bottleneck.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BUF 65536
#define DRAIN_US 30000000LL /* after the last due moment, wait this long for answers */

typedef struct { char *data; size_t len; } request_t;
typedef struct {
    int fd, busy, connected;
    long long req;        /* index of the request in flight */
    size_t sent, got;
    char buf[BUF];
} conn_t;

static request_t *reqs; static size_t nreqs;
static long long *lat_us; static int *status_of; static long long *done_at;
static const char *host; static int port;

static long long now_us(void) {
    struct timespec ts; clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000000LL + ts.tv_nsec / 1000;
}
static long long wall_us(void) {
    struct timespec ts; clock_gettime(CLOCK_REALTIME, &ts);
    return ts.tv_sec * 1000000LL + ts.tv_nsec / 1000;
}

static void load_requests(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) { perror(path); exit(2); }
    size_t cap = 64; reqs = malloc(cap * sizeof *reqs);
    size_t n;
    while (fscanf(f, "%zu", &n) == 1) {
        fgetc(f); /* the newline */
        if (nreqs == cap) reqs = realloc(reqs, (cap *= 2) * sizeof *reqs);
        reqs[nreqs].data = malloc(n); reqs[nreqs].len = n;
        if (fread(reqs[nreqs].data, 1, n, f) != n) { fprintf(stderr, "short request file\n"); exit(2); }
        nreqs++;
    }
    fclose(f);
    if (!nreqs) { fprintf(stderr, "no requests in %s\n", path); exit(2); }
}

static int open_conn(conn_t *c, int ep) {
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    inet_pton(AF_INET, host, &a.sin_addr);
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    int one = 1; setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(c->fd, (struct sockaddr *)&a, sizeof a) < 0 && errno != EINPROGRESS) return -1;
    c->busy = 0; c->connected = 0; c->got = 0; c->sent = 0;
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.ptr = c};
    return epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
}

static void reopen(conn_t *c, int ep) { close(c->fd); open_conn(c, ep); }

static void write_some(conn_t *c) {
    request_t *r = &reqs[c->req % nreqs];
    while (c->sent < r->len) {
        ssize_t w = write(c->fd, r->data + c->sent, r->len - c->sent);
        if (w <= 0) return;
        c->sent += (size_t)w;
    }
}

/* A whole response in c->buf? Returns its total length, or 0. */
static size_t complete(conn_t *c, int *status) {
    c->buf[c->got] = 0;
    char *end = strstr(c->buf, "\r\n\r\n");
    if (!end) return 0;
    size_t head = (size_t)(end - c->buf) + 4, body = 0;
    *status = atoi(c->buf + 9);
    char *cl = strcasestr(c->buf, "\r\ncontent-length:");
    if (cl && cl < end) body = strtoul(cl + 17, NULL, 10);
    else if (strcasestr(c->buf, "\r\ntransfer-encoding: chunked")) {
        char *z = strstr(end + 4, "0\r\n\r\n");
        return z ? (size_t)(z - c->buf) + 5 : 0;
    }
    return c->got >= head + body ? head + body : 0;
}

static int cmp(const void *a, const void *b) {
    long long x = *(const long long *)a, y = *(const long long *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    if (argc < 8) { fprintf(stderr, "usage: openloop HOST PORT REQUESTS RATE SECONDS CONNECTIONS OUT.json [IDS.txt [STATUS.txt]]\n"); return 2; }
    host = argv[1]; port = atoi(argv[2]); load_requests(argv[3]);
    double rate = atof(argv[4]), seconds = atof(argv[5]);
    int nconn = atoi(argv[6]);
    long long total = (long long)(rate * seconds);
    lat_us = calloc(total, sizeof *lat_us); status_of = calloc(total, sizeof *status_of);
    done_at = calloc(total, sizeof *done_at);
    FILE *ids = argc > 8 ? fopen(argv[8], "w") : NULL;
    int ep = epoll_create1(0);
    conn_t *conns = calloc(nconn, sizeof *conns);
    for (int i = 0; i < nconn; i++) open_conn(&conns[i], ep);
    long long t0 = now_us() + 200000, next = 0, completed = 0, errors = 0;
    long long period = (long long)(1e6 / rate);
    struct epoll_event evs[256];
    int idle_scan = 0;
    for (;;) {
        long long t = now_us();
        /* Send every request now due on an idle, connected connection. */
        while (next < total && t0 + (long long)(next * 1e6 / rate) <= t) {
            conn_t *c = NULL;
            for (int k = 0; k < nconn; k++) {
                conn_t *d = &conns[(idle_scan + k) % nconn];
                if (d->connected && !d->busy) { c = d; idle_scan = (idle_scan + k + 1) % nconn; break; }
            }
            if (!c) break; /* all busy: it waits, and its wait counts */
            c->busy = 1; c->req = next++; c->sent = 0; c->got = 0;
            write_some(c);
        }
        if (next >= total && completed + errors >= total) break;
        if (t > t0 + (long long)(seconds * 1e6) + DRAIN_US) break;
        long long due = next < total ? t0 + (long long)(next * 1e6 / rate) : t + 10000;
        int timeout = due > t ? (int)((due - t + 999) / 1000) : 0;
        if (timeout > period / 1000 + 1) timeout = (int)(period / 1000) + 1;
        int n = epoll_wait(ep, evs, 256, timeout);
        for (int i = 0; i < n; i++) {
            conn_t *c = evs[i].data.ptr;
            if (evs[i].events & (EPOLLERR | EPOLLHUP)) {
                if (c->busy) { errors++; status_of[c->req] = -1; }
                reopen(c, ep); continue;
            }
            if (evs[i].events & EPOLLOUT) {
                if (!c->connected) {
                    c->connected = 1;
                    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
                    epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
                }
                if (c->busy) write_some(c);
            }
            if (evs[i].events & EPOLLIN) {
                ssize_t r = read(c->fd, c->buf + c->got, BUF - 1 - c->got);
                if (r <= 0) { if (c->busy) { errors++; status_of[c->req] = -1; } reopen(c, ep); continue; }
                c->got += (size_t)r;
                int status = 0;
                size_t len = c->busy ? complete(c, &status) : 0;
                if (len) {
                    long long when = now_us();
                    long long sched = t0 + (long long)(c->req * 1e6 / rate);
                    lat_us[c->req] = when - sched; status_of[c->req] = status; done_at[c->req] = when - t0;
                    completed++;
                    if (ids && status >= 200 && status < 300) {
                        char *id = strstr(c->buf, "\"id\":\"");
                        if (id) fprintf(ids, "%.36s %lld\n", id + 6, wall_us() - (when - sched));
                    }
                    c->busy = 0; c->got = 0;
                }
            }
        }
    }
    /* Figures. Unanswered requests count as errors with the longest latency seen. */
    long long *ok = malloc(total * sizeof *ok), nok = 0, statuses[600] = {0}, unanswered = 0, failed = 0;
    int secs = (int)seconds + 31, *per_sec = calloc(secs, sizeof *per_sec), *acc_sec = calloc(secs, sizeof *acc_sec);
    for (long long i = 0; i < total; i++) {
        if (i >= next || (status_of[i] == 0)) { unanswered++; continue; }
        if (status_of[i] < 0) { failed++; continue; }
        if (status_of[i] < 600) statuses[status_of[i]]++;
        ok[nok++] = lat_us[i];
        int s = (int)(done_at[i] / 1000000);
        if (s >= 0 && s < secs) { per_sec[s]++; if (status_of[i] >= 200 && status_of[i] < 300) acc_sec[s]++; }
    }
    qsort(ok, nok, sizeof *ok, cmp);
#define P(q) (nok ? ok[(long long)((q) * (nok - 1))] / 1000.0 : -1.0)
    FILE *out = fopen(argv[7], "w");
    fprintf(out, "{\"rate\": %.1f, \"seconds\": %.1f, \"connections\": %d, \"scheduled\": %lld, \"sent\": %lld,"
            " \"answered\": %lld, \"connection_errors\": %lld, \"unanswered\": %lld,\n \"statuses\": {",
            rate, seconds, nconn, total, next, nok, failed, unanswered);
    int first = 1;
    for (int s = 0; s < 600; s++) if (statuses[s]) { fprintf(out, "%s\"%d\": %lld", first ? "" : ", ", s, statuses[s]); first = 0; }
    fprintf(out, "},\n \"latency_ms\": {\"p50\": %.2f, \"p90\": %.2f, \"p99\": %.2f, \"p99.9\": %.2f, \"max\": %.2f},\n",
            P(0.50), P(0.90), P(0.99), P(0.999), nok ? ok[nok - 1] / 1000.0 : -1.0);
    fprintf(out, " \"answered_per_second\": [");
    for (int s = 0; s < secs; s++) fprintf(out, "%s%d", s ? ", " : "", per_sec[s]);
    fprintf(out, "],\n \"accepted_per_second\": [");
    for (int s = 0; s < secs; s++) fprintf(out, "%s%d", s ? ", " : "", acc_sec[s]);
    fprintf(out, "]}\n");
    fclose(out);
    if (ids) fclose(ids);
    if (argc > 9) {
        FILE *st = fopen(argv[9], "w");
        for (long long i = 0; i < total; i++) fprintf(st, "%d\n", i >= next ? 0 : status_of[i]);
        fclose(st);
    }
    return 0;
}
