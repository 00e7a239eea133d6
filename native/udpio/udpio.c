/*
 * udpio: the media engine's UDP sockets, for Linux.
 *
 * Two things node:dgram cannot give us:
 *  - the kernel's receive timestamp of each datagram (SO_TIMESTAMPNS), so
 *    interarrival jitter (RFC 3550 A.8) is computed from when the packet
 *    reached the host, not from when the event loop got round to it. That is
 *    the timestamp tshark uses; dgram read 0.07-0.2 ms of jitter too high.
 *  - a cheap path per packet. Sends are one direct sendto() each. Receives
 *    are drained with recvmmsg() when a socket polls readable and queued; the
 *    queue of every socket is handed to JS in ONE call per event-loop turn
 *    (a uv_check handle, right after the poll phase): one Buffer holding all
 *    payloads plus a Float64Array of (socket id, offset, length, port,
 *    address index, arrival). At scale that replaces a JS call, a callback
 *    scope and a malloc'd Buffer per packet.
 *
 * One uv_poll_t per socket on the calling environment's libuv loop; every
 * callback runs on that loop's thread. Context-aware (a worker thread loads
 * its own instance).
 *
 * JS API (wrapped by src/rtp/udp.ts):
 *   setDispatcher(fn(payloads: Buffer, meta: Float64Array, count, addresses: string[]))
 *   open(family 4|6, address, port, id, onError(errno, syscall)) -> handle
 *        (throws {code, errno, syscall}, e.g. EADDRINUSE)
 *   send(handle, bytes, port, address) -> 0 | -errno      (synchronous sendto)
 *   slot(handle) -> number       (the socket's index for sendBatch; reused after close)
 *   parseAddress(family 4|6, address, out: Int32Array(4)) -> bool  (16 address bytes, as sendBatch wants them)
 *   sendBatch(bytes: Uint8Array, meta: Int32Array, count) -> failures
 *        (every datagram staged by one pacer wake-up in ONE call, grouped by
 *         socket: a socket's datagrams go out in sendmmsg() runs, in their
 *         staged order, a lone one in one sendto();
 *         meta holds SEND_FIELDS int32 per datagram: slot, offset, length,
 *         port, 4 x address bytes, and the result 0 | -errno written back)
 *   localPort(handle) -> number
 *   setRecvBuffer(handle, bytes) -> SO_RCVBUF now | -errno
 *   close(handle)                                          (idempotent)
 *   monotonicNs() -> number      (CLOCK_MONOTONIC, the clock of hrtime)
 *   timerOpen(fn) -> timer;  timerArm(timer, absMonotonicNs | 0);  timerClose(timer)
 *        (a one-shot timerfd on CLOCK_MONOTONIC for the pacer)
 *
 * meta holds META_FIELDS doubles per datagram. The arrival is the kernel
 * receive time moved onto CLOCK_MONOTONIC (the clock of process.hrtime):
 * SO_TIMESTAMPNS stamps with CLOCK_REALTIME, so the packet's age (realtime
 * now - stamp) is subtracted from monotonic now. An age below 0 or above 1 s
 * (the wall clock stepped) falls back to the read time.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <node_api.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#define BATCH 16
#define MAX_DGRAM 65536
/* Datagrams read from one socket per readable event before moving on. */
#define MAX_PER_WAKE 256
/* Per datagram in the meta array: id, offset, length, port, address index, arrival ns. */
#define META_FIELDS 6
/* Distinct source addresses looked up per delivery. */
#define MAX_ADDRS 64
/* Per staged datagram in sendBatch's meta: slot, offset, length, port, addr[4], rc. */
#define SEND_FIELDS 9
/* Datagrams of one socket per sendmmsg(). */
#define SEND_BATCH 64

typedef struct instance instance_t;

/*
 * What a socket and a timer share: an fd watched by a uv_poll_t, one JS
 * callback, and a lifetime split between JS (the external handle) and libuv
 * (the poll handle, freed only after its close callback). First member of
 * both, so a pointer to either is a pointer to this.
 */
enum polled_kind { KIND_SOCKET = 1, KIND_TIMER = 2 };

typedef struct {
  uv_poll_t poll;
  enum polled_kind kind;
  int fd;
  int closing;  /* close() called or finalized: no more callbacks */
  int orphaned; /* JS handle collected: free when the poll handle is closed */
  int closed;   /* poll handle closed */
  napi_env env;
  napi_ref callback;
  instance_t *inst;
} polled_t;

typedef struct {
  polled_t base; /* callback: onError(errno, syscall) */
  int family;
  double id;
  int32_t slot; /* index in instance.slots, -1 once closed */
} sock_t;

typedef struct {
  double id;
  size_t offset;
  size_t length;
  int port;
  double arrival;
  struct sockaddr_storage from;
} queued_t;

struct instance {
  napi_env env;
  napi_ref dispatcher;
  napi_ref resource;
  napi_async_context actx;
  uv_check_t *check; /* heap: outlives the instance until its close callback */
  int check_active;
  unsigned char *arena;
  size_t arena_used, arena_cap;
  queued_t *queue;
  size_t queued, queue_cap;
  unsigned char *rx; /* recvmmsg scratch: BATCH x MAX_DGRAM */
  sock_t **slots;    /* open sockets by slot (sendBatch); NULL = free */
  size_t nslots;
  /* sendBatch's grouping scratch: per slot the first/last staged datagram (-1: none), per datagram the next of its slot. */
  int32_t *group_head, *group_tail, *group_next;
  size_t group_slots, group_cap;
};

#define CHECK(call)                                                     \
  do {                                                                  \
    if ((call) != napi_ok) {                                            \
      napi_throw_error(env, "E_UDPIO", "N-API call failed: " #call);    \
      return NULL;                                                      \
    }                                                                   \
  } while (0)

static instance_t *get_instance(napi_env env) {
  instance_t *inst = NULL;
  napi_get_instance_data(env, (void **)&inst);
  return inst;
}

static int64_t ts_ns(const struct timespec *t) { return (int64_t)t->tv_sec * 1000000000LL + t->tv_nsec; }

static const char *errno_code(int err) {
  switch (err) {
    case EADDRINUSE: return "EADDRINUSE";
    case EACCES: return "EACCES";
    case EADDRNOTAVAIL: return "EADDRNOTAVAIL";
    case EINVAL: return "EINVAL";
    case EAFNOSUPPORT: return "EAFNOSUPPORT";
    case EMFILE: return "EMFILE";
    case ENFILE: return "ENFILE";
    case ENOBUFS: return "ENOBUFS";
    case ENOMEM: return "ENOMEM";
    case EPERM: return "EPERM";
    default: return "EIO";
  }
}

/* CLOCK_REALTIME and CLOCK_MONOTONIC read as one instant: monotonic between two
 * realtime reads, keeping the tightest of a few tries. A thread preempted
 * between two plain reads (tens of ms on a loaded machine) would otherwise
 * shift every arrival of the batch by that much. */
static void clock_pair(int64_t *real_ns, int64_t *mono_ns) {
  int64_t best = INT64_MAX;
  for (int tries = 0; tries < 4; tries++) {
    struct timespec r0, m, r1;
    clock_gettime(CLOCK_REALTIME, &r0);
    clock_gettime(CLOCK_MONOTONIC, &m);
    clock_gettime(CLOCK_REALTIME, &r1);
    int64_t spread = ts_ns(&r1) - ts_ns(&r0);
    if (spread >= 0 && spread < best) {
      best = spread;
      *real_ns = ts_ns(&r0) + spread / 2;
      *mono_ns = ts_ns(&m);
    }
    if (best < 20000) break; /* 20 us: not preempted */
  }
  if (best == INT64_MAX) { /* the wall clock stepped back in between: take a plain pair */
    struct timespec r, m;
    clock_gettime(CLOCK_REALTIME, &r);
    clock_gettime(CLOCK_MONOTONIC, &m);
    *real_ns = ts_ns(&r);
    *mono_ns = ts_ns(&m);
  }
}

static void throw_errno(napi_env env, int err, const char *syscall, const char *address, int port) {
  char msg[256];
  snprintf(msg, sizeof msg, "%s %s %s:%d", syscall, errno_code(err), address, port);
  napi_value message, error, code, errno_v, sys;
  napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &message);
  napi_create_string_utf8(env, errno_code(err), NAPI_AUTO_LENGTH, &code);
  napi_create_error(env, code, message, &error);
  napi_create_int32(env, -err, &errno_v);
  napi_create_string_utf8(env, syscall, NAPI_AUTO_LENGTH, &sys);
  napi_set_named_property(env, error, "errno", errno_v);
  napi_set_named_property(env, error, "syscall", sys);
  napi_throw(env, error);
}

static int parse_address(int family, const char *address, int port, struct sockaddr_storage *out, socklen_t *len) {
  memset(out, 0, sizeof *out);
  if (family == 6) {
    struct sockaddr_in6 *a = (struct sockaddr_in6 *)out;
    a->sin6_family = AF_INET6;
    a->sin6_port = htons((uint16_t)port);
    if (inet_pton(AF_INET6, address, &a->sin6_addr) != 1) {
      /* An IPv4 literal on a dual-stack socket: use the v4-mapped form. */
      struct in_addr v4;
      if (inet_pton(AF_INET, address, &v4) != 1) return -1;
      a->sin6_addr.s6_addr[10] = 0xff;
      a->sin6_addr.s6_addr[11] = 0xff;
      memcpy(&a->sin6_addr.s6_addr[12], &v4, 4);
    }
    *len = sizeof *a;
  } else {
    struct sockaddr_in *a = (struct sockaddr_in *)out;
    a->sin_family = AF_INET;
    a->sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, address, &a->sin_addr) != 1) return -1;
    *len = sizeof *a;
  }
  return 0;
}

/* Calls fn(argv) as a top-level callback: microtasks and nextTicks run after it,
 * and an exception becomes the process's 'uncaughtException', as for any event. */
static void call_js(napi_env env, napi_ref resource_ref, napi_async_context actx, napi_ref fn_ref, size_t argc, napi_value *argv) {
  napi_value fn, recv, result, resource;
  if (napi_get_reference_value(env, fn_ref, &fn) != napi_ok || fn == NULL) return;
  napi_get_undefined(env, &recv);
  napi_get_reference_value(env, resource_ref, &resource);
  napi_callback_scope scope;
  napi_open_callback_scope(env, resource, actx, &scope);
  napi_status status = napi_call_function(env, recv, fn, argc, argv, &result);
  if (status == napi_pending_exception) {
    napi_value err;
    napi_get_and_clear_last_exception(env, &err);
    napi_fatal_exception(env, err);
  }
  napi_close_callback_scope(env, scope);
}

/* ---- delivery: once per loop turn ---------------------------------------- */

static int same_address(const struct sockaddr_storage *a, const struct sockaddr_storage *b) {
  if (a->ss_family != b->ss_family) return 0;
  if (a->ss_family == AF_INET6)
    return memcmp(&((const struct sockaddr_in6 *)a)->sin6_addr, &((const struct sockaddr_in6 *)b)->sin6_addr, 16) == 0;
  return ((const struct sockaddr_in *)a)->sin_addr.s_addr == ((const struct sockaddr_in *)b)->sin_addr.s_addr;
}

static napi_value address_string(napi_env env, const struct sockaddr_storage *from) {
  char text[INET6_ADDRSTRLEN + 1] = {0};
  if (from->ss_family == AF_INET6) {
    inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)from)->sin6_addr, text, sizeof text);
  } else {
    inet_ntop(AF_INET, &((const struct sockaddr_in *)from)->sin_addr, text, sizeof text);
  }
  napi_value str;
  napi_create_string_latin1(env, text, NAPI_AUTO_LENGTH, &str);
  return str;
}

static void deliver(instance_t *inst) {
  napi_env env = inst->env;
  size_t count = inst->queued;
  if (count == 0 || inst->dispatcher == NULL) {
    inst->queued = 0;
    inst->arena_used = 0;
    return;
  }
  napi_handle_scope hs;
  napi_open_handle_scope(env, &hs);
  napi_value argv[4];
  napi_create_buffer_copy(env, inst->arena_used, inst->arena, NULL, &argv[0]);
  void *meta_data = NULL;
  napi_value meta_ab;
  napi_create_arraybuffer(env, count * META_FIELDS * sizeof(double), &meta_data, &meta_ab);
  napi_create_typedarray(env, napi_float64_array, count * META_FIELDS, meta_ab, 0, &argv[1]);
  napi_create_double(env, (double)count, &argv[2]);
  napi_create_array(env, &argv[3]);
  double *meta = (double *)meta_data;
  /* Source addresses as strings, each distinct one once (the scan covers
   * the first MAX_ADDRS; beyond that every datagram gets its own string). */
  const struct sockaddr_storage *seen[MAX_ADDRS];
  uint32_t nseen = 0, nstrings = 0;
  for (size_t i = 0; i < count; i++) {
    queued_t *q = &inst->queue[i];
    uint32_t index = UINT32_MAX;
    for (uint32_t k = 0; k < nseen; k++) {
      if (same_address(seen[k], &q->from)) {
        index = k;
        break;
      }
    }
    if (index == UINT32_MAX) {
      index = nstrings++;
      napi_set_element(env, argv[3], index, address_string(env, &q->from));
      if (nseen < MAX_ADDRS && index == nseen) seen[nseen++] = &q->from;
    }
    double *m = meta + i * META_FIELDS;
    m[0] = q->id;
    m[1] = (double)q->offset;
    m[2] = (double)q->length;
    m[3] = q->port;
    m[4] = index;
    m[5] = q->arrival;
  }
  /* Reset before calling out: JS may close sockets or cause new reads. */
  inst->queued = 0;
  inst->arena_used = 0;
  call_js(env, inst->resource, inst->actx, inst->dispatcher, 4, argv);
  napi_close_handle_scope(env, hs);
}

static void on_check(uv_check_t *check) {
  instance_t *inst = (instance_t *)check->data;
  uv_check_stop(check);
  inst->check_active = 0;
  deliver(inst);
}

static int reserve(instance_t *inst, size_t bytes) {
  if (inst->queued == inst->queue_cap) {
    size_t cap = inst->queue_cap ? inst->queue_cap * 2 : 256;
    queued_t *q = realloc(inst->queue, cap * sizeof *q);
    if (q == NULL) return -1;
    inst->queue = q;
    inst->queue_cap = cap;
  }
  if (inst->arena_used + bytes > inst->arena_cap) {
    size_t cap = inst->arena_cap ? inst->arena_cap : 65536;
    while (cap < inst->arena_used + bytes) cap *= 2;
    unsigned char *a = realloc(inst->arena, cap);
    if (a == NULL) return -1;
    inst->arena = a;
    inst->arena_cap = cap;
  }
  return 0;
}

/* ---- sockets -------------------------------------------------------------- */

/* The lowest free slot (a handful of sockets per call: a linear scan is fine), or -1. */
static int32_t slot_take(instance_t *inst, sock_t *s) {
  for (size_t i = 0; i < inst->nslots; i++) {
    if (inst->slots[i] == NULL) {
      inst->slots[i] = s;
      return (int32_t)i;
    }
  }
  size_t cap = inst->nslots ? inst->nslots * 2 : 64;
  sock_t **grown = realloc(inst->slots, cap * sizeof *grown);
  if (grown == NULL) return -1;
  memset(grown + inst->nslots, 0, (cap - inst->nslots) * sizeof *grown);
  inst->slots = grown;
  int32_t slot = (int32_t)inst->nslots;
  inst->nslots = cap;
  inst->slots[slot] = s;
  return slot;
}

static void on_poll_closed(uv_handle_t *handle) {
  polled_t *p = (polled_t *)handle->data;
  p->closed = 1;
  if (p->orphaned) free(p);
}

/* Stops callbacks, releases the JS reference and closes the fd; idempotent. */
static void polled_close(polled_t *p) {
  if (p->closing) return;
  p->closing = 1;
  if (p->kind == KIND_SOCKET) {
    sock_t *s = (sock_t *)p;
    if (s->slot >= 0 && p->inst != NULL && (size_t)s->slot < p->inst->nslots) p->inst->slots[s->slot] = NULL;
    s->slot = -1;
  }
  napi_delete_reference(p->env, p->callback);
  p->callback = NULL;
  uv_poll_stop(&p->poll);
  /* uv_close takes the fd out of epoll before it returns, so the fd can be
   * closed now: a port is free when close() returns, as with dgram. */
  uv_close((uv_handle_t *)&p->poll, on_poll_closed);
  close(p->fd);
  p->fd = -1;
}

/* The JS handle was collected: free now if libuv is done with it, else when it is. */
static void finalize_polled(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  polled_t *p = (polled_t *)data;
  if (p->closed) {
    free(p);
    return;
  }
  p->orphaned = 1;
  polled_close(p);
}

/* Sets up p (already calloc'ed, fd open) and starts watching fd for reads. */
static int polled_start(polled_t *p, enum polled_kind kind, napi_env env, int fd, napi_value callback, uv_poll_cb on_readable) {
  uv_loop_t *loop = NULL;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok || napi_create_reference(env, callback, 1, &p->callback) != napi_ok) return -1;
  if (uv_poll_init(loop, &p->poll, fd) != 0) {
    napi_delete_reference(env, p->callback);
    return -1;
  }
  p->kind = kind;
  p->fd = fd;
  p->env = env;
  p->inst = get_instance(env);
  p->poll.data = p;
  uv_poll_start(&p->poll, UV_READABLE, on_readable);
  return 0;
}

static void report_error(sock_t *s, int err, const char *syscall) {
  if (s->base.callback == NULL) return;
  napi_env env = s->base.env;
  napi_handle_scope hs;
  napi_open_handle_scope(env, &hs);
  napi_value argv[2];
  napi_create_int32(env, -err, &argv[0]);
  napi_create_string_utf8(env, syscall, NAPI_AUTO_LENGTH, &argv[1]);
  call_js(env, s->base.inst->resource, s->base.inst->actx, s->base.callback, 2, argv);
  napi_close_handle_scope(env, hs);
}

static void on_readable(uv_poll_t *handle, int status, int events) {
  (void)events;
  sock_t *s = (sock_t *)handle->data;
  instance_t *inst = s->base.inst;
  if (s->base.closing) return;
  if (status < 0) {
    report_error(s, -status, "poll");
    return;
  }
  if (inst->rx == NULL) {
    inst->rx = malloc((size_t)BATCH * MAX_DGRAM);
    if (inst->rx == NULL) {
      report_error(s, ENOMEM, "recvmmsg");
      return;
    }
  }
  struct mmsghdr msgs[BATCH];
  struct iovec iovs[BATCH];
  struct sockaddr_storage froms[BATCH];
  char controls[BATCH][CMSG_SPACE(sizeof(struct timespec))];
  int read = 0;
  while (read < MAX_PER_WAKE) {
    memset(msgs, 0, sizeof msgs);
    for (int i = 0; i < BATCH; i++) {
      iovs[i].iov_base = inst->rx + (size_t)i * MAX_DGRAM;
      iovs[i].iov_len = MAX_DGRAM;
      msgs[i].msg_hdr.msg_iov = &iovs[i];
      msgs[i].msg_hdr.msg_iovlen = 1;
      msgs[i].msg_hdr.msg_name = &froms[i];
      msgs[i].msg_hdr.msg_namelen = sizeof froms[i];
      msgs[i].msg_hdr.msg_control = controls[i];
      msgs[i].msg_hdr.msg_controllen = sizeof controls[i];
    }
    int n = recvmmsg(s->base.fd, msgs, BATCH, MSG_DONTWAIT, NULL);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) report_error(s, errno, "recvmmsg");
      break;
    }
    int64_t real_ns, mono_ns;
    clock_pair(&real_ns, &mono_ns);
    for (int i = 0; i < n; i++) {
      int64_t arrival = mono_ns;
      for (struct cmsghdr *c = CMSG_FIRSTHDR(&msgs[i].msg_hdr); c != NULL; c = CMSG_NXTHDR(&msgs[i].msg_hdr, c)) {
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_TIMESTAMPNS) {
          struct timespec stamp;
          memcpy(&stamp, CMSG_DATA(c), sizeof stamp);
          int64_t age = real_ns - ts_ns(&stamp);
          if (age >= 0 && age < 1000000000LL) arrival = mono_ns - age;
        }
      }
      size_t len = msgs[i].msg_len;
      if (reserve(inst, len) != 0) {
        report_error(s, ENOMEM, "recvmmsg");
        return;
      }
      queued_t *q = &inst->queue[inst->queued++];
      q->id = s->id;
      q->offset = inst->arena_used;
      q->length = len;
      q->arrival = (double)arrival;
      memcpy(&q->from, &froms[i], sizeof froms[i]);
      q->port = froms[i].ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&froms[i])->sin6_port)
                                               : ntohs(((struct sockaddr_in *)&froms[i])->sin_port);
      memcpy(inst->arena + inst->arena_used, iovs[i].iov_base, len);
      inst->arena_used += len;
    }
    read += n;
    if (n < BATCH) break;
  }
  if (inst->queued > 0 && !inst->check_active) {
    inst->check_active = 1;
    uv_check_start(inst->check, on_check);
  }
}

/* The polled_t behind a JS handle, if it is one of `kind` (else a TypeError). */
static polled_t *get_polled(napi_env env, napi_value v, enum polled_kind kind) {
  void *data = NULL;
  if (napi_get_value_external(env, v, &data) != napi_ok || data == NULL || ((polled_t *)data)->kind != kind) {
    napi_throw_type_error(env, "E_UDPIO", kind == KIND_SOCKET ? "not a udpio socket handle" : "not a udpio timer handle");
    return NULL;
  }
  return (polled_t *)data;
}

static sock_t *get_sock(napi_env env, napi_value v) { return (sock_t *)get_polled(env, v, KIND_SOCKET); }



/* ---- precise timer: a timerfd on CLOCK_MONOTONIC, absolute deadlines ------ */
/*
 * Node's timers fire on the loop's millisecond clock, up to ~1 ms late, so the
 * pacer used to arm one 1 ms early and spin on setImmediate for the rest. A
 * timerfd wakes epoll at the deadline itself (hrtimer, tens of µs of wake-up
 * latency), so the pacer sleeps until the packet is due. Unref'd: the media
 * sockets, not the pacer, keep a process alive.
 */
typedef struct {
  polled_t base; /* callback: fire() */
} ptimer_t;

static void on_timer(uv_poll_t *handle, int status, int events) {
  (void)status;
  (void)events;
  ptimer_t *t = (ptimer_t *)handle->data;
  uint64_t expirations;
  if (t->base.closing || read(t->base.fd, &expirations, sizeof expirations) != (ssize_t)sizeof expirations) return;
  napi_handle_scope hs;
  napi_open_handle_scope(t->base.env, &hs);
  call_js(t->base.env, t->base.inst->resource, t->base.inst->actx, t->base.callback, 0, NULL);
  napi_close_handle_scope(t->base.env, hs);
}

static ptimer_t *get_timer(napi_env env, napi_value v) { return (ptimer_t *)get_polled(env, v, KIND_TIMER); }

static napi_value TimerOpen(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
  /* The kernel may fire a timer up to the thread's timer slack late (50 µs by
   * default) to merge wake-ups; the pacer wants its deadline, so 1 ns. Only
   * this (the loop's) thread, and only timers: epoll timeouts get as precise. */
  prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
  if (fd < 0) {
    throw_errno(env, errno, "timerfd_create", "-", 0);
    return NULL;
  }
  ptimer_t *t = calloc(1, sizeof *t);
  if (t == NULL || polled_start(&t->base, KIND_TIMER, env, fd, argv[0], on_timer) != 0) {
    free(t);
    close(fd);
    throw_errno(env, ENOMEM, "timerfd", "-", 0);
    return NULL;
  }
  uv_unref((uv_handle_t *)&t->base.poll);
  napi_value handle;
  CHECK(napi_create_external(env, t, finalize_polled, NULL, &handle));
  return handle;
}

/* timerArm(handle, absMonotonicNs): fire once at that CLOCK_MONOTONIC time (now if past); 0 disarms. */
static napi_value TimerArm(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  ptimer_t *t = get_timer(env, argv[0]);
  if (t == NULL) return NULL;
  double at = 0;
  CHECK(napi_get_value_double(env, argv[1], &at));
  if (t->base.closing) return NULL;
  struct itimerspec spec;
  memset(&spec, 0, sizeof spec);
  if (at > 0) {
    int64_t ns = (int64_t)at;
    if (ns < 1) ns = 1;
    spec.it_value.tv_sec = ns / 1000000000LL;
    spec.it_value.tv_nsec = ns % 1000000000LL;
  }
  timerfd_settime(t->base.fd, TFD_TIMER_ABSTIME, &spec, NULL);
  return NULL;
}

static napi_value SetDispatcher(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  instance_t *inst = get_instance(env);
  if (inst->dispatcher) napi_delete_reference(env, inst->dispatcher);
  CHECK(napi_create_reference(env, argv[0], 1, &inst->dispatcher));
  return NULL;
}

static napi_value Open(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 5) {
    napi_throw_type_error(env, "E_UDPIO", "open(family, address, port, id, onError)");
    return NULL;
  }
  int32_t family = 4, port = 0;
  double id = 0;
  char address[INET6_ADDRSTRLEN + 1];
  size_t addrlen = 0;
  CHECK(napi_get_value_int32(env, argv[0], &family));
  CHECK(napi_get_value_string_latin1(env, argv[1], address, sizeof address, &addrlen));
  CHECK(napi_get_value_int32(env, argv[2], &port));
  CHECK(napi_get_value_double(env, argv[3], &id));
  struct sockaddr_storage sa;
  socklen_t salen;
  if (parse_address(family, address, port, &sa, &salen) != 0) {
    throw_errno(env, EINVAL, "bind", address, port);
    return NULL;
  }
  int fd = socket(family == 6 ? AF_INET6 : AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    throw_errno(env, errno, "socket", address, port);
    return NULL;
  }
  int on = 1;
  setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPNS, &on, sizeof on); /* without it: read-time stamps */
  if (bind(fd, (struct sockaddr *)&sa, salen) != 0) {
    int err = errno;
    close(fd);
    throw_errno(env, err, "bind", address, port);
    return NULL;
  }
  sock_t *s = calloc(1, sizeof *s);
  if (s == NULL || polled_start(&s->base, KIND_SOCKET, env, fd, argv[4], on_readable) != 0) {
    free(s);
    close(fd);
    throw_errno(env, ENOMEM, "open", address, port);
    return NULL;
  }
  s->family = family;
  s->id = id;
  s->slot = slot_take(s->base.inst, s);
  napi_value handle;
  CHECK(napi_create_external(env, s, finalize_polled, NULL, &handle));
  return handle;
}

/* The socket handle in argv[0] of a call taking `argc` arguments (NULL: a TypeError is pending). */
static sock_t *sock_call(napi_env env, napi_callback_info info, size_t argc, napi_value *argv) {
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) {
    napi_throw_error(env, "E_UDPIO", "N-API call failed: napi_get_cb_info");
    return NULL;
  }
  return get_sock(env, argv[0]);
}

static napi_value Send(napi_env env, napi_callback_info info) {
  napi_value argv[4];
  sock_t *s = sock_call(env, info, 4, argv);
  if (s == NULL) return NULL;
  napi_value result;
  if (s->base.closing) {
    napi_create_int32(env, -EBADF, &result);
    return result;
  }
  void *data = NULL;
  size_t length = 0;
  napi_typedarray_type type;
  napi_value ab;
  size_t offset;
  if (napi_get_typedarray_info(env, argv[1], &type, &length, &data, &ab, &offset) != napi_ok || type != napi_uint8_array) {
    napi_throw_type_error(env, "E_UDPIO", "send: bytes must be a Uint8Array or Buffer");
    return NULL;
  }
  int32_t port = 0;
  char address[INET6_ADDRSTRLEN + 1];
  size_t addrlen = 0;
  CHECK(napi_get_value_int32(env, argv[2], &port));
  CHECK(napi_get_value_string_latin1(env, argv[3], address, sizeof address, &addrlen));
  struct sockaddr_storage sa;
  socklen_t salen;
  int rc = 0;
  if (parse_address(s->family, address, port, &sa, &salen) != 0) {
    rc = -EINVAL;
  } else {
    ssize_t sent;
    do {
      sent = sendto(s->base.fd, data, length, 0, (struct sockaddr *)&sa, salen);
    } while (sent < 0 && errno == EINTR);
    if (sent < 0) rc = -errno;
  }
  napi_create_int32(env, rc, &result);
  return result;
}

static napi_value Slot(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  sock_t *s = sock_call(env, info, 1, argv);
  if (s == NULL) return NULL;
  napi_value result;
  napi_create_int32(env, s->slot, &result);
  return result;
}

static int typed_array(napi_env env, napi_value v, napi_typedarray_type want, void **data, size_t *length) {
  napi_typedarray_type type;
  napi_value ab;
  size_t offset;
  return napi_get_typedarray_info(env, v, &type, length, data, &ab, &offset) == napi_ok && type == want ? 0 : -1;
}

/* parseAddress(family, address, out: Int32Array(4)): the address's 16 bytes as sendBatch takes them. */
static napi_value ParseAddress(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int32_t family = 4;
  char address[INET6_ADDRSTRLEN + 1];
  size_t addrlen = 0, outlen = 0;
  void *out = NULL;
  CHECK(napi_get_value_int32(env, argv[0], &family));
  CHECK(napi_get_value_string_latin1(env, argv[1], address, sizeof address, &addrlen));
  if (typed_array(env, argv[2], napi_int32_array, &out, &outlen) != 0 || outlen < 4) {
    napi_throw_type_error(env, "E_UDPIO", "parseAddress: out must be an Int32Array(4)");
    return NULL;
  }
  struct sockaddr_storage sa;
  socklen_t salen;
  int ok = parse_address(family, address, 0, &sa, &salen) == 0;
  memset(out, 0, 16);
  if (ok && family == 6) memcpy(out, &((struct sockaddr_in6 *)&sa)->sin6_addr, 16);
  else if (ok) memcpy(out, &((struct sockaddr_in *)&sa)->sin_addr, 4);
  napi_value result;
  napi_get_boolean(env, ok, &result);
  return result;
}

static socklen_t batch_address(const sock_t *s, const int32_t *m, struct sockaddr_storage *sa) {
  memset(sa, 0, sizeof *sa);
  if (s->family == 6) {
    struct sockaddr_in6 *a = (struct sockaddr_in6 *)sa;
    a->sin6_family = AF_INET6;
    a->sin6_port = htons((uint16_t)m[3]);
    memcpy(&a->sin6_addr, &m[4], 16);
    return sizeof *a;
  }
  struct sockaddr_in *a = (struct sockaddr_in *)sa;
  a->sin_family = AF_INET;
  a->sin_port = htons((uint16_t)m[3]);
  memcpy(&a->sin_addr, &m[4], 4);
  return sizeof *a;
}

/*
 * sendBatch(bytes, meta, count): every staged datagram in one call. A run of
 * datagrams from one socket goes out in one sendmmsg() (shared sockets); a
 * lone one in one sendto(). Results go back into meta (0 or -errno).
 */
static napi_value SendBatch(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  unsigned char *bytes = NULL;
  int32_t *meta = NULL;
  size_t nbytes = 0, nmeta = 0;
  uint32_t count = 0;
  if (typed_array(env, argv[0], napi_uint8_array, (void **)&bytes, &nbytes) != 0 ||
      typed_array(env, argv[1], napi_int32_array, (void **)&meta, &nmeta) != 0 ||
      napi_get_value_uint32(env, argv[2], &count) != napi_ok || (size_t)count * SEND_FIELDS > nmeta) {
    napi_throw_type_error(env, "E_UDPIO", "sendBatch(bytes: Uint8Array, meta: Int32Array, count)");
    return NULL;
  }
  instance_t *inst = get_instance(env);
  struct mmsghdr msgs[SEND_BATCH];
  struct iovec iovs[SEND_BATCH];
  struct sockaddr_storage tos[SEND_BATCH];
  int32_t failures = 0;
  /* Group the datagrams by socket, each socket's in staged order: the pacer interleaves
   * streams, so a shared socket's datagrams are scattered over the batch; grouped, they go
   * out in sendmmsg() runs (one socket's order kept; the order across sockets is not). */
  if (inst->group_slots < inst->nslots) {
    int32_t *h = realloc(inst->group_head, inst->nslots * sizeof *h);
    int32_t *t = h ? realloc(inst->group_tail, inst->nslots * sizeof *t) : NULL;
    if (h) inst->group_head = h;
    if (t) inst->group_tail = t;
    if (h == NULL || t == NULL) {
      napi_throw_error(env, "E_UDPIO", "sendBatch: out of memory");
      return NULL;
    }
    for (size_t k = inst->group_slots; k < inst->nslots; k++) inst->group_head[k] = -1;
    inst->group_slots = inst->nslots;
  }
  if (inst->group_cap < count) {
    int32_t *n = realloc(inst->group_next, (size_t)count * sizeof *n);
    if (n == NULL) {
      napi_throw_error(env, "E_UDPIO", "sendBatch: out of memory");
      return NULL;
    }
    inst->group_next = n;
    inst->group_cap = count;
  }
  int32_t *head = inst->group_head, *tail = inst->group_tail, *next = inst->group_next;
  for (uint32_t i = 0; i < count; i++) {
    int32_t *m = meta + (size_t)i * SEND_FIELDS;
    int32_t slot = m[0];
    sock_t *s = slot >= 0 && (size_t)slot < inst->nslots ? inst->slots[slot] : NULL;
    next[i] = -1;
    if (s == NULL || s->base.closing || m[1] < 0 || m[2] < 0 || (size_t)m[1] + (size_t)m[2] > nbytes) {
      m[8] = s == NULL || s->base.closing ? -EBADF : -EINVAL;
      failures++;
      continue;
    }
    if (head[slot] < 0) head[slot] = (int32_t)i;
    else next[tail[slot]] = (int32_t)i;
    tail[slot] = (int32_t)i;
  }
  for (uint32_t first = 0; first < count; first++) {
    int32_t slot = meta[(size_t)first * SEND_FIELDS];
    if (slot < 0 || (size_t)slot >= inst->group_slots || head[slot] != (int32_t)first) continue;
    head[slot] = -1;
    sock_t *s = inst->slots[slot];
    int32_t at = (int32_t)first;
    while (at >= 0) {
      /* The next run of up to SEND_BATCH datagrams of this socket. */
      int32_t idx[SEND_BATCH];
      uint32_t run = 0;
      while (at >= 0 && run < SEND_BATCH) {
        idx[run++] = at;
        at = next[at];
      }
      if (run == 1) {
        int32_t *m = meta + (size_t)idx[0] * SEND_FIELDS;
        struct sockaddr_storage sa;
        socklen_t salen = batch_address(s, m, &sa);
        ssize_t sent;
        do {
          sent = sendto(s->base.fd, bytes + m[1], (size_t)m[2], 0, (struct sockaddr *)&sa, salen);
        } while (sent < 0 && errno == EINTR);
        m[8] = sent < 0 ? -errno : 0;
        if (sent < 0) failures++;
        continue;
      }
      for (uint32_t k = 0; k < run; k++) {
        int32_t *n = meta + (size_t)idx[k] * SEND_FIELDS;
        iovs[k].iov_base = bytes + n[1];
        iovs[k].iov_len = (size_t)n[2];
        memset(&msgs[k], 0, sizeof msgs[k]);
        msgs[k].msg_hdr.msg_iov = &iovs[k];
        msgs[k].msg_hdr.msg_iovlen = 1;
        msgs[k].msg_hdr.msg_name = &tos[k];
        msgs[k].msg_hdr.msg_namelen = batch_address(s, n, &tos[k]);
        n[8] = 0;
      }
      uint32_t done = 0;
      while (done < run) {
        int r = sendmmsg(s->base.fd, msgs + done, run - done, 0);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) {
          /* The first unsent one failed: record it and go on after it. */
          meta[(size_t)idx[done] * SEND_FIELDS + 8] = r < 0 ? -errno : -EIO;
          failures++;
          done++;
          continue;
        }
        done += (uint32_t)r;
      }
    }
  }
  napi_value result;
  napi_create_int32(env, failures, &result);
  return result;
}

static napi_value LocalPort(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  sock_t *s = sock_call(env, info, 1, argv);
  if (s == NULL) return NULL;
  struct sockaddr_storage sa;
  socklen_t len = sizeof sa;
  int port = -1;
  if (!s->base.closing && getsockname(s->base.fd, (struct sockaddr *)&sa, &len) == 0) {
    port = sa.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&sa)->sin6_port)
                                    : ntohs(((struct sockaddr_in *)&sa)->sin_port);
  }
  napi_value result;
  napi_create_int32(env, port, &result);
  return result;
}

/* setTos(socketHandle | fd, tos): the IP TOS / traffic class byte (DSCP << 2, RFC 2474)
   of a socket: IP_TOS on IPv4, IPV6_TCLASS on IPv6 (and IP_TOS too, for v4-mapped
   peers). Takes a udpio handle or the fd of any socket (node's own SIP sockets).
   Returns 0 or -errno. */
static napi_value SetTos(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int fd = -1;
  int tos = 0;
  napi_valuetype type;
  CHECK(napi_typeof(env, argv[0], &type));
  if (type == napi_number) {
    CHECK(napi_get_value_int32(env, argv[0], &fd));
  } else {
    sock_t *s = get_sock(env, argv[0]);
    if (s == NULL) return NULL;
    fd = s->base.closing ? -1 : s->base.fd;
  }
  CHECK(napi_get_value_int32(env, argv[1], &tos));
  int rc = 0;
  struct sockaddr_storage sa;
  socklen_t len = sizeof sa;
  if (fd < 0 || tos < 0 || tos > 255) {
    rc = -EINVAL;
  } else if (getsockname(fd, (struct sockaddr *)&sa, &len) != 0) {
    rc = -errno;
  } else if (sa.ss_family == AF_INET6) {
    if (setsockopt(fd, IPPROTO_IPV6, IPV6_TCLASS, &tos, sizeof tos) != 0) rc = -errno;
    else (void)setsockopt(fd, IPPROTO_IP, IP_TOS, &tos, sizeof tos);
  } else if (setsockopt(fd, IPPROTO_IP, IP_TOS, &tos, sizeof tos) != 0) {
    rc = -errno;
  }
  napi_value result;
  napi_create_int32(env, rc, &result);
  return result;
}

/* setRecvBuffer(socket, bytes): SO_RCVBUF (the kernel caps it at net.core.rmem_max and
   doubles it for its bookkeeping); returns what getsockopt reports, or -errno. A shared
   port receives every stream's packets on one socket: the default ~200 KB holds only a
   few ms of them. */
static napi_value SetRecvBuffer(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  sock_t *s = sock_call(env, info, 2, argv);
  if (s == NULL) return NULL;
  int32_t bytes = 0;
  CHECK(napi_get_value_int32(env, argv[1], &bytes));
  int rc = 0;
  if (s->base.closing || bytes <= 0) {
    rc = -EINVAL;
  } else if (setsockopt(s->base.fd, SOL_SOCKET, SO_RCVBUF, &bytes, sizeof bytes) != 0) {
    rc = -errno;
  } else {
    int got = 0;
    socklen_t len = sizeof got;
    rc = getsockopt(s->base.fd, SOL_SOCKET, SO_RCVBUF, &got, &len) == 0 ? got : -errno;
  }
  napi_value result;
  napi_create_int32(env, rc, &result);
  return result;
}

/* close(socket) and timerClose(timer): both are polled_t underneath. */
static napi_value Close(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  void *data = NULL;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (napi_get_value_external(env, argv[0], &data) != napi_ok || data == NULL) {
    napi_throw_type_error(env, "E_UDPIO", "not a udpio handle");
    return NULL;
  }
  polled_close((polled_t *)data);
  return NULL;
}

static napi_value MonotonicNs(napi_env env, napi_callback_info info) {
  (void)info;
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  napi_value result;
  napi_create_double(env, (double)ts_ns(&now), &result);
  return result;
}

static void on_check_closed(uv_handle_t *handle) { free(handle); }

static void free_instance(napi_env env, void *data, void *hint) {
  (void)hint;
  instance_t *inst = (instance_t *)data;
  if (inst->dispatcher) napi_delete_reference(env, inst->dispatcher);
  napi_async_destroy(env, inst->actx);
  napi_delete_reference(env, inst->resource);
  inst->check->data = NULL;
  uv_close((uv_handle_t *)inst->check, on_check_closed);
  free(inst->arena);
  free(inst->queue);
  free(inst->rx);
  free(inst->slots);
  free(inst->group_head);
  free(inst->group_tail);
  free(inst->group_next);
  free(inst);
}

/*
 * One unbound socket with SO_TIMESTAMPNS, open for the life of the process.
 * The kernel stamps received datagrams only while some socket in the system
 * asks for stamps, and the first such socket switches stamping on through a
 * deferred work item: until a kernel worker runs it (milliseconds, more on a
 * loaded machine), datagrams are stamped when read, not when they arrived.
 * Opening this at load, long before any call's media, and never closing it,
 * keeps every call's first packets (and every socket opened after a call
 * closed all of its own) on kernel arrival stamps.
 */
static int stamp_keeper = -1;

static void keep_stamping_on(void) {
  if (__atomic_load_n(&stamp_keeper, __ATOMIC_ACQUIRE) >= 0) return;
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return; /* stamps then start with the first media socket, as before */
  int on = 1;
  if (setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPNS, &on, sizeof on) != 0) {
    close(fd);
    return;
  }
  int none = -1; /* worker threads load the addon too: one keeper per process */
  if (!__atomic_compare_exchange_n(&stamp_keeper, &none, fd, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) close(fd);
}

NAPI_MODULE_INIT() {
  keep_stamping_on();
  instance_t *inst = calloc(1, sizeof *inst);
  if (inst == NULL) return NULL;
  inst->env = env;
  uv_loop_t *loop = NULL;
  inst->check = calloc(1, sizeof *inst->check);
  if (inst->check == NULL || napi_get_uv_event_loop(env, &loop) != napi_ok || uv_check_init(loop, inst->check) != 0) return NULL;
  inst->check->data = inst;
  uv_unref((uv_handle_t *)inst->check); /* delivery never keeps the process alive by itself */
  napi_value resource, name;
  if (napi_create_object(env, &resource) != napi_ok ||
      napi_create_reference(env, resource, 1, &inst->resource) != napi_ok ||
      napi_create_string_utf8(env, "callprobe:udpio", NAPI_AUTO_LENGTH, &name) != napi_ok ||
      napi_async_init(env, resource, name, &inst->actx) != napi_ok ||
      napi_set_instance_data(env, inst, free_instance, NULL) != napi_ok)
    return NULL;
  napi_property_descriptor props[] = {
    {"setDispatcher", NULL, SetDispatcher, NULL, NULL, NULL, napi_enumerable, NULL},
    {"open", NULL, Open, NULL, NULL, NULL, napi_enumerable, NULL},
    {"send", NULL, Send, NULL, NULL, NULL, napi_enumerable, NULL},
    {"slot", NULL, Slot, NULL, NULL, NULL, napi_enumerable, NULL},
    {"parseAddress", NULL, ParseAddress, NULL, NULL, NULL, napi_enumerable, NULL},
    {"sendBatch", NULL, SendBatch, NULL, NULL, NULL, napi_enumerable, NULL},
    {"localPort", NULL, LocalPort, NULL, NULL, NULL, napi_enumerable, NULL},
    {"setTos", NULL, SetTos, NULL, NULL, NULL, napi_enumerable, NULL},
    {"setRecvBuffer", NULL, SetRecvBuffer, NULL, NULL, NULL, napi_enumerable, NULL},
    {"close", NULL, Close, NULL, NULL, NULL, napi_enumerable, NULL},
    {"monotonicNs", NULL, MonotonicNs, NULL, NULL, NULL, napi_enumerable, NULL},
    {"timerOpen", NULL, TimerOpen, NULL, NULL, NULL, napi_enumerable, NULL},
    {"timerArm", NULL, TimerArm, NULL, NULL, NULL, napi_enumerable, NULL},
    {"timerClose", NULL, Close, NULL, NULL, NULL, napi_enumerable, NULL}, /* same lifecycle as a socket */
  };
  if (napi_define_properties(env, exports, sizeof props / sizeof props[0], props) != napi_ok) return NULL;
  return exports;
}
