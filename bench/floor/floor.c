/*
 * The C floor of the RTP path (bench/run.ts builds and runs it in the same
 * run as callprobe and SIPp): what N two-way G.711 streams cost when all a
 * program does is pace, send, receive and count. One thread, no analysis.
 *
 *   floor <per-socket|shared> <streams> <window_ms> [warmup_ms] [tick_ms]
 *
 * - N streams as N/2 loopback pairs: every stream sends one 20 ms, 172-byte
 *   RTP-shaped packet per period to its peer and receives the peer's, as
 *   bench/rtp-scale.ts does with callprobe sessions. 127.0.0.1 only.
 * - per-socket: one socket per stream, one sendto() per packet, recvmmsg()
 *   when epoll says a socket is readable.
 * - shared: two sockets for all streams (every "A" stream on one, every "B"
 *   stream on the other); the packets due at one wake-up go out in one
 *   sendmmsg() per socket; receives are demultiplexed by SSRC.
 * - Receive sockets have SO_TIMESTAMPNS on, as callprobe's do (it needs the
 *   kernel stamps for jitter), so the floor pays what callprobe must pay.
 * - Pacer: a timerfd armed at the next deadline, but never sooner than
 *   tick_ms (default 0.5) after the last wake-up; a wake-up sends every
 *   packet due within tick_ms / 2 (so sends are as early as they are late).
 *   Lateness is |send time - deadline|; a stream more than one period but at
 *   most CATCHUP_NS (60 ms) late sends the missed packets late (caught up, as
 *   callprobe's pacer does: src/rtp/pacer.ts catchUpMs); later than that it
 *   skips them and counts them (self-inflicted loss).
 *
 * Prints one JSON object: CPU (getrusage) over the window, packets sent /
 * received / lost, skipped ticks, lateness p50/p99/max in ms.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#define PERIOD_NS 20000000LL
#define CATCHUP_NS 60000000LL
#define PKT 172
#define BATCH 64
#define BIN_NS 1000
#define BINS 100000 /* 0..100 ms in 1 µs bins, then overflow */

typedef struct {
  int fd;          /* per-socket: own socket; shared: index into shared fds */
  int sock;        /* shared: which of the 2 sockets it sends from */
  struct sockaddr_in to;
  uint32_t ssrc;
  uint16_t seq;
  int64_t start, deadline;
  int64_t tick;
  /* receive side (what this stream's socket gets from its peer) */
  int64_t received;
  uint16_t max_seq;
  int have_seq;
  int64_t first_seq_ext, cycles;
} stream_t;

static int64_t now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (int64_t)t.tv_sec * 1000000000LL + t.tv_nsec;
}

static double cpu_s(void) {
  struct rusage r;
  getrusage(RUSAGE_SELF, &r);
  return r.ru_utime.tv_sec + r.ru_utime.tv_usec / 1e6 + r.ru_stime.tv_sec + r.ru_stime.tv_usec / 1e6;
}

static int open_socket(struct sockaddr_in *bound) {
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    perror("socket");
    exit(1);
  }
  int on = 1;
  setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPNS, &on, sizeof on);
  struct sockaddr_in a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(fd, (struct sockaddr *)&a, sizeof a) != 0) {
    perror("bind");
    exit(1);
  }
  socklen_t len = sizeof *bound;
  getsockname(fd, (struct sockaddr *)bound, &len);
  return fd;
}

static uint32_t bins[BINS + 1];
static int64_t lat_count, lat_max;
static int measuring;

static void record(int64_t late) {
  if (!measuring) return;
  if (late < 0) late = -late;
  int64_t b = late / BIN_NS;
  bins[b > BINS ? BINS : b]++;
  lat_count++;
  if (late > lat_max) lat_max = late;
}

static double quantile_ms(double q) {
  if (lat_count == 0) return 0;
  int64_t target = (int64_t)(q * lat_count + 0.999999), n = 0;
  for (int b = 0; b <= BINS; b++) {
    n += bins[b];
    if (n >= target) return b == BINS ? lat_max / 1e6 : ((b + 1) * (double)BIN_NS) / 1e6;
  }
  return lat_max / 1e6;
}

static void count_rx(stream_t *s, const unsigned char *p, int len) {
  if (len < 12) return;
  uint16_t seq = (uint16_t)(p[2] << 8 | p[3]);
  s->received++;
  if (!s->have_seq) {
    s->have_seq = 1;
    s->max_seq = seq;
    s->first_seq_ext = seq;
    return;
  }
  if ((uint16_t)(seq - s->max_seq) < 0x8000) {
    if (seq < s->max_seq) s->cycles += 65536;
    s->max_seq = seq;
  }
}

int main(int argc, char **argv) {
  if (argc < 4) {
    fprintf(stderr, "usage: floor <per-socket|shared> <streams> <window_ms> [warmup_ms] [tick_ms]\n");
    return 2;
  }
  int shared = strcmp(argv[1], "shared") == 0;
  int n = atoi(argv[2]);
  if (n < 2) n = 2;
  n += n & 1;
  int64_t window = (int64_t)(atof(argv[3]) * 1e6);
  int64_t warmup = argc > 4 ? (int64_t)(atof(argv[4]) * 1e6) : 2000000000LL;
  int64_t tick = argc > 5 ? (int64_t)(atof(argv[5]) * 1e6) : 500000;
  struct rlimit rl = {65536, 65536};
  setrlimit(RLIMIT_NOFILE, &rl);

  stream_t *st = calloc((size_t)n, sizeof *st);
  int shared_fd[2] = {-1, -1};
  struct sockaddr_in shared_addr[2];
  int ep = epoll_create1(EPOLL_CLOEXEC);
  if (shared) {
    for (int k = 0; k < 2; k++) {
      shared_fd[k] = open_socket(&shared_addr[k]);
      int big = 8 << 20;
      setsockopt(shared_fd[k], SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
      struct epoll_event ev = {.events = EPOLLIN, .data.u64 = (uint64_t)k};
      epoll_ctl(ep, EPOLL_CTL_ADD, shared_fd[k], &ev);
    }
  }
  struct sockaddr_in *bound = calloc((size_t)n, sizeof *bound);
  for (int i = 0; i < n; i++) {
    st[i].ssrc = (uint32_t)i;
    st[i].seq = (uint16_t)rand();
    if (shared) {
      st[i].sock = i & 1;
      st[i].fd = shared_fd[i & 1];
    } else {
      st[i].fd = open_socket(&bound[i]);
      struct epoll_event ev = {.events = EPOLLIN, .data.u64 = (uint64_t)i};
      epoll_ctl(ep, EPOLL_CTL_ADD, st[i].fd, &ev);
    }
  }
  for (int i = 0; i < n; i++) {
    int peer = i ^ 1;
    st[i].to = shared ? shared_addr[st[i].sock ^ 1] : bound[peer];
  }
  int tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
  struct epoll_event tev = {.events = EPOLLIN, .data.u64 = UINT64_MAX};
  epoll_ctl(ep, EPOLL_CTL_ADD, tfd, &tev);

  /* Deadlines: each stream starts at a random phase within one period. */
  int64_t t0 = now_ns() + 1000000;
  for (int i = 0; i < n; i++) {
    st[i].start = t0 + (int64_t)((double)rand() / RAND_MAX * PERIOD_NS);
    st[i].deadline = st[i].start;
  }
  /* Streams ordered by phase: with one period for all, the order never changes. */
  int *order = malloc((size_t)n * sizeof *order);
  for (int i = 0; i < n; i++) order[i] = i;
  for (int i = 1; i < n; i++) { /* insertion sort by start */
    int v = order[i], j = i - 1;
    while (j >= 0 && st[order[j]].start > st[v].start) {
      order[j + 1] = order[j];
      j--;
    }
    order[j + 1] = v;
  }
  int next = 0; /* index in order[] of the earliest deadline */

  unsigned char pkt[PKT];
  memset(pkt, 0xff, sizeof pkt);
  pkt[0] = 0x80;
  pkt[1] = 0;
  static unsigned char rxbuf[BATCH][2048];
  struct mmsghdr rmsgs[BATCH];
  struct iovec riov[BATCH];
  struct sockaddr_in rfrom[BATCH];
  char rctl[BATCH][CMSG_SPACE(sizeof(struct timespec))];
  /* shared mode send batches */
  static unsigned char txbuf[2][BATCH][PKT];
  struct mmsghdr tmsgs[2][BATCH];
  struct iovec tiov[2][BATCH];
  int tcount[2] = {0, 0};

  int64_t sent = 0, sent_window = 0, received_window = 0, skipped = 0, skipped_window = 0, caught_up_window = 0, send_errors = 0;
  int64_t begin = t0 + warmup, end = begin + window, stop = end + 200000000LL;
  double cpu0 = 0, cpu1 = 0;
  int64_t wall0 = 0, wall1 = 0, last_wake = 0;
  int64_t *rx_at_begin = calloc((size_t)n, sizeof *rx_at_begin);
  int64_t *rx_at_end = calloc((size_t)n, sizeof *rx_at_end);
  int64_t *tx_at_begin = calloc((size_t)n, sizeof *tx_at_begin);
  int64_t *tx_at_end = calloc((size_t)n, sizeof *tx_at_end);
  int64_t *tx = calloc((size_t)n, sizeof *tx);
  int phase = 0; /* 0 warm-up, 1 window, 2 drain */

  struct itimerspec its;
  memset(&its, 0, sizeof its);
  int64_t arm = st[order[0]].deadline;
  its.it_value.tv_sec = arm / 1000000000LL;
  its.it_value.tv_nsec = arm % 1000000000LL;
  timerfd_settime(tfd, TFD_TIMER_ABSTIME, &its, NULL);

  struct epoll_event evs[256];
  for (;;) {
    int ne = epoll_wait(ep, evs, 256, 100);
    int64_t now = now_ns();
    if (phase == 0 && now >= begin) {
      phase = 1;
      measuring = 1;
      for (int i = 0; i < n; i++) rx_at_begin[i] = st[i].received, tx_at_begin[i] = tx[i];
      wall0 = now;
      cpu0 = cpu_s();
    } else if (phase == 1 && now >= end) {
      cpu1 = cpu_s();
      wall1 = now;
      phase = 2;
      measuring = 0;
      for (int i = 0; i < n; i++) tx_at_end[i] = tx[i];
    }
    if (phase == 2 && now >= stop) break;
    for (int e = 0; e < ne; e++) {
      uint64_t id = evs[e].data.u64;
      if (id == UINT64_MAX) {
        uint64_t exp;
        if (read(tfd, &exp, sizeof exp) < 0 && errno != EAGAIN) perror("timerfd read");
        if (phase == 2) continue; /* stop sending; let in-flight packets land */
        last_wake = now;
        for (int guard = 0; guard < n; guard++) {
          stream_t *s = &st[order[next]];
          if (s->deadline > now + tick / 2) break;
          int64_t late = now - s->deadline;
          if (late > PERIOD_NS && late > CATCHUP_NS) {
            int64_t skip = late / PERIOD_NS;
            s->tick += skip;
            skipped += skip;
            if (measuring) skipped_window += skip;
            s->deadline = s->start + s->tick * PERIOD_NS;
            late = now - s->deadline;
          } else if (late > PERIOD_NS && measuring) {
            caught_up_window++;
          }
          record(late);
          pkt[2] = (unsigned char)(s->seq >> 8);
          pkt[3] = (unsigned char)s->seq;
          uint32_t ts = (uint32_t)(s->tick * 160);
          pkt[4] = ts >> 24, pkt[5] = ts >> 16, pkt[6] = ts >> 8, pkt[7] = ts;
          pkt[8] = s->ssrc >> 24, pkt[9] = s->ssrc >> 16, pkt[10] = s->ssrc >> 8, pkt[11] = s->ssrc;
          s->seq++;
          if (shared) {
            int k = s->sock;
            memcpy(txbuf[k][tcount[k]], pkt, PKT);
            tiov[k][tcount[k]].iov_base = txbuf[k][tcount[k]];
            tiov[k][tcount[k]].iov_len = PKT;
            memset(&tmsgs[k][tcount[k]], 0, sizeof tmsgs[k][0]);
            tmsgs[k][tcount[k]].msg_hdr.msg_iov = &tiov[k][tcount[k]];
            tmsgs[k][tcount[k]].msg_hdr.msg_iovlen = 1;
            tmsgs[k][tcount[k]].msg_hdr.msg_name = &s->to;
            tmsgs[k][tcount[k]].msg_hdr.msg_namelen = sizeof s->to;
            if (++tcount[k] == BATCH) {
              int r = sendmmsg(shared_fd[k], tmsgs[k], (unsigned)tcount[k], 0);
              if (r < tcount[k]) send_errors += tcount[k] - (r < 0 ? 0 : r);
              tcount[k] = 0;
            }
          } else if (sendto(s->fd, pkt, PKT, 0, (struct sockaddr *)&s->to, sizeof s->to) != PKT) {
            send_errors++;
          }
          sent++;
          tx[s - st]++;
          s->tick++;
          s->deadline = s->start + s->tick * PERIOD_NS;
          next = (next + 1) % n;
        }
        for (int k = 0; k < 2; k++) {
          if (tcount[k] > 0) {
            int r = sendmmsg(shared_fd[k], tmsgs[k], (unsigned)tcount[k], 0);
            if (r < tcount[k]) send_errors += tcount[k] - (r < 0 ? 0 : r);
            tcount[k] = 0;
          }
        }
        arm = st[order[next]].deadline;
        if (arm < last_wake + tick) arm = last_wake + tick;
        its.it_value.tv_sec = arm / 1000000000LL;
        its.it_value.tv_nsec = arm % 1000000000LL;
        timerfd_settime(tfd, TFD_TIMER_ABSTIME, &its, NULL);
        continue;
      }
      int fd = shared ? shared_fd[id] : st[id].fd;
      for (;;) {
        for (int i = 0; i < BATCH; i++) {
          riov[i].iov_base = rxbuf[i];
          riov[i].iov_len = sizeof rxbuf[i];
          memset(&rmsgs[i], 0, sizeof rmsgs[i]);
          rmsgs[i].msg_hdr.msg_iov = &riov[i];
          rmsgs[i].msg_hdr.msg_iovlen = 1;
          rmsgs[i].msg_hdr.msg_name = &rfrom[i];
          rmsgs[i].msg_hdr.msg_namelen = sizeof rfrom[i];
          rmsgs[i].msg_hdr.msg_control = rctl[i];
          rmsgs[i].msg_hdr.msg_controllen = sizeof rctl[i];
        }
        int r = recvmmsg(fd, rmsgs, BATCH, MSG_DONTWAIT, NULL);
        if (r <= 0) break;
        for (int i = 0; i < r; i++) {
          const unsigned char *p = rxbuf[i];
          int len = (int)rmsgs[i].msg_len;
          if (shared) {
            if (len < 12) continue;
            uint32_t ssrc = (uint32_t)p[8] << 24 | (uint32_t)p[9] << 16 | (uint32_t)p[10] << 8 | p[11];
            if (ssrc < (uint32_t)n) count_rx(&st[ssrc ^ 1], p, len);
          } else {
            count_rx(&st[id], p, len);
          }
        }
        if (r < BATCH) break;
      }
    }
  }
  /* Loss over the window: packets the peer sent in the window that never arrived. */
  int64_t lost = 0;
  for (int i = 0; i < n; i++) {
    int64_t want = tx_at_end[i ^ 1] - tx_at_begin[i ^ 1];
    (void)rx_at_end;
    int64_t got = st[i].received - rx_at_begin[i];
    received_window += got < want ? got : want;
    if (got < want) lost += want - got;
    sent_window += tx_at_end[i] - tx_at_begin[i];
  }
  double secs = (wall1 - wall0) / 1e9;
  double cpu = cpu1 - cpu0;
  printf("{\"mode\":\"%s\",\"streams\":%d,\"window_s\":%.3f,\"cpu_s\":%.4f,\"cpu_ms_per_stream_second\":%.4f,"
         "\"packets_sent\":%lld,\"packets_received\":%lld,\"lost\":%lld,\"skipped_ticks\":%lld,\"caught_up_ticks\":%lld,\"send_errors\":%lld,"
         "\"self_inflicted_loss\":%lld,"
         "\"send_lateness_abs_ms\":{\"p50\":%.3f,\"p99\":%.3f,\"max\":%.3f,\"count\":%lld},\"tick_ms\":%.3f}\n",
         shared ? "shared" : "per-socket", n, secs, cpu, cpu * 1000 / (n * secs), (long long)sent_window,
         (long long)received_window, (long long)lost, (long long)skipped_window, (long long)caught_up_window, (long long)send_errors,
         (long long)(lost + skipped_window), quantile_ms(0.5), quantile_ms(0.99), lat_max / 1e6, (long long)lat_count,
         tick / 1e6);
  return 0;
}
