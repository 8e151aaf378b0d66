/* One tick of the listener fan-out: RTP header + RFC 8285 extensions + payload, SRTP through
 * the caller's libsrtp (pylibsrtp's copy, by function pointer: one library, one session state),
 * then sendmmsg for each run of messages that share a socket.
 *
 * Byte-for-byte what media/fanout.py's Python loop sends for the same peer state; counters and
 * drop rules are the same: a peer that is not ready is skipped, a packet that cannot be
 * protected or sent (EAGAIN included) is dropped and counted, nothing is queued or retried.
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#define FANOUT_BATCH 64
/* pylibsrtp's Session buffer is 1500 bytes and keeps SRTP_MAX_TRAILER_LEN (144) free. */
#define FANOUT_BUF 1500
#define FANOUT_LIMIT (1500 - 144)

typedef int (*fanout_protect_fn)(void *ctx, void *rtp, int *len);

static double fanout_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts); /* time.monotonic(), the asyncio loop's clock */
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int fanout_packet(const struct kpeer *p, uint8_t *buf, const uint8_t *payload, int plen,
                         int level, uint32_t ast, uint32_t index, uint32_t rtp_ts)
{
    uint16_t seq = (uint16_t)(p->seq0 + index);
    uint32_t ts = p->ts0 + rtp_ts;
    int n = 12, k = 0;
    uint8_t el[32];

    buf[0] = p->b0;
    buf[1] = p->b1;
    buf[2] = seq >> 8;
    buf[3] = seq & 0xFF;
    buf[4] = ts >> 24;
    buf[5] = (ts >> 16) & 0xFF;
    buf[6] = (ts >> 8) & 0xFF;
    buf[7] = ts & 0xFF;
    buf[8] = p->ssrc >> 24;
    buf[9] = (p->ssrc >> 16) & 0xFF;
    buf[10] = (p->ssrc >> 8) & 0xFF;
    buf[11] = p->ssrc & 0xFF;
    if (p->mid_id) {
        el[k++] = (uint8_t)((p->mid_id << 4) | (p->mid_len - 1));
        memcpy(el + k, p->mid, p->mid_len);
        k += p->mid_len;
    }
    if (p->level_id) {
        el[k++] = (uint8_t)(p->level_id << 4);
        el[k++] = (uint8_t)(level & 0x7F);
    }
    if (p->ast_id) {
        el[k++] = (uint8_t)((p->ast_id << 4) | 2);
        el[k++] = (ast >> 16) & 0xFF;
        el[k++] = (ast >> 8) & 0xFF;
        el[k++] = ast & 0xFF;
    }
    if (k) {
        while (k % 4)
            el[k++] = 0;
        buf[n++] = 0xBE;
        buf[n++] = 0xDE;
        buf[n++] = (uint8_t)((k / 4) >> 8);
        buf[n++] = (uint8_t)((k / 4) & 0xFF);
        memcpy(buf + n, el, k);
        n += k;
    }
    if (n + plen > FANOUT_LIMIT)
        return -1;
    memcpy(buf + n, payload, plen);
    return n + plen;
}

struct fanout_marks {
    double *at;
    int cap, n, every;
};

static void fanout_count(struct kpeer *p, int plen, int ok, int *sent, int *dropped,
                         struct fanout_marks *m)
{
    if (!ok) {
        p->dropped++;
        (*dropped)++;
        return;
    }
    p->packets++;
    p->octets += plen;
    (*sent)++;
    if (m->at && m->every > 0 && *sent % m->every == 0 && m->n < m->cap)
        m->at[m->n++] = fanout_now();
}

/* Send messages [0, n) of the batch: one sendmmsg per run of equal descriptors. */
static void fanout_flush(struct kpeer **who, struct mmsghdr *msgs, int n, int plen, int *sent,
                         int *dropped, struct fanout_marks *m)
{
    int i = 0;
    while (i < n) {
        int fd = who[i]->fd, j = i + 1;
        while (j < n && who[j]->fd == fd)
            j++;
        while (i < j) {
            int r = sendmmsg(fd, msgs + i, (unsigned int)(j - i), MSG_DONTWAIT);
            if (r <= 0) {
                /* The first message of the run failed (EAGAIN: the socket is full): that peer
                 * misses this packet; go on with the next message. */
                fanout_count(who[i], plen, 0, sent, dropped, m);
                i++;
                continue;
            }
            for (int x = 0; x < r; x++)
                fanout_count(who[i + x], plen, 1, sent, dropped, m);
            i += r;
        }
    }
}

int fanout_tick(struct kpeer **peers, int n_peers, const uint8_t *payload, int plen, int level,
                uint32_t ast, uint32_t index, uint32_t rtp_ts, uintptr_t protect,
                double *marks, int marks_cap, int mark_every, int *n_marks, int *dropped_out)
{
    static __thread uint8_t bufs[FANOUT_BATCH][FANOUT_BUF]; /* GIL released: per thread */
    struct mmsghdr msgs[FANOUT_BATCH];
    struct iovec iovs[FANOUT_BATCH];
    struct kpeer *who[FANOUT_BATCH];
    fanout_protect_fn srtp_protect = (fanout_protect_fn)protect;
    struct fanout_marks m = {marks, marks_cap, 0, mark_every};
    int sent = 0, dropped = 0, b = 0;

    for (int i = 0; i < n_peers; i++) {
        struct kpeer *p = peers[i];
        if (p == NULL || !p->ready)
            continue;
        int len = fanout_packet(p, bufs[b], payload, plen, level, ast, index, rtp_ts);
        if (len < 0 || srtp_protect((void *)p->srtp, bufs[b], &len) != 0) {
            fanout_count(p, plen, 0, &sent, &dropped, &m);
            continue;
        }
        iovs[b].iov_base = bufs[b];
        iovs[b].iov_len = (size_t)len;
        memset(&msgs[b], 0, sizeof msgs[b]);
        msgs[b].msg_hdr.msg_name = p->addr;
        msgs[b].msg_hdr.msg_namelen = p->addrlen;
        msgs[b].msg_hdr.msg_iov = &iovs[b];
        msgs[b].msg_hdr.msg_iovlen = 1;
        who[b++] = p;
        if (b == FANOUT_BATCH) {
            fanout_flush(who, msgs, b, plen, &sent, &dropped, &m);
            b = 0;
        }
    }
    if (b)
        fanout_flush(who, msgs, b, plen, &sent, &dropped, &m);
    if (m.at && m.every > 0 && sent % m.every && m.n < m.cap)
        m.at[m.n++] = fanout_now();
    *n_marks = m.n;
    *dropped_out = dropped;
    return sent;
}

/* The same bytes on many stream sockets: one room event's WebSocket frame to every connection
 * of a Space on this process (spaces/realtime/wsframes.py). Not media, but the same trade: one
 * call instead of a Python round per socket, and Python's lock released while the kernel copies
 * (the caller's database threads run meanwhile). Nonblocking and never retried: sent[i] is the
 * count fds[i] took (possibly short) or -errno; the caller queues the rest behind its own
 * buffer. Returns how many took all of it. */
int send_same(const int *fds, int n_fds, const uint8_t *data, int len, int *sent)
{
    int complete = 0;
    for (int i = 0; i < n_fds; i++) {
        ssize_t r = send(fds[i], data, (size_t)len, MSG_DONTWAIT | MSG_NOSIGNAL);
        sent[i] = r < 0 ? -errno : (int)r;
        complete += r == len;
    }
    return complete;
}

/* send_same over up to `threads` threads, each a contiguous share of the sockets. Nearly all of
 * a loopback or NIC send is the kernel's TCP work for that one socket, so shares run in parallel
 * on other cores: one process's fan-out to a big Space takes a fraction of the wall time. A
 * thread that cannot be started leaves its share to the caller's thread. */
#define SEND_MAX_THREADS 8

struct send_share {
    const int *fds;
    int n;
    const uint8_t *data;
    int len;
    int *sent;
    int complete;
};

static void *send_share_run(void *arg)
{
    struct send_share *s = arg;
    s->complete = send_same(s->fds, s->n, s->data, s->len, s->sent);
    return NULL;
}

int send_same_threads(const int *fds, int n_fds, const uint8_t *data, int len, int *sent,
                      int threads)
{
    if (threads > SEND_MAX_THREADS)
        threads = SEND_MAX_THREADS;
    if (threads < 2 || n_fds < 2)
        return send_same(fds, n_fds, data, len, sent);
    if (threads > n_fds)
        threads = n_fds;
    pthread_t tid[SEND_MAX_THREADS];
    struct send_share shares[SEND_MAX_THREADS];
    int running[SEND_MAX_THREADS] = {0};
    int per = (n_fds + threads - 1) / threads;
    for (int t = 0; t < threads; t++) {
        int from = t * per;
        int n = from >= n_fds ? 0 : (n_fds - from < per ? n_fds - from : per);
        shares[t] = (struct send_share){fds + from, n, data, len, sent + from, 0};
        if (t > 0 && n > 0)
            running[t] = pthread_create(&tid[t], NULL, send_share_run, &shares[t]) == 0;
    }
    send_share_run(&shares[0]);
    int complete = shares[0].complete;
    for (int t = 1; t < threads; t++) {
        if (running[t])
            pthread_join(tid[t], NULL);
        else
            send_share_run(&shares[t]);
        complete += shares[t].complete;
    }
    return complete;
}
