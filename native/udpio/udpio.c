/*
 * udpio: the media engine's UDP sockets, for Linux.
 *
 * Two things node:dgram cannot give us:
 *  - the kernel's receive timestamp of each datagram (SO_TIMESTAMPNS), so
 *    interarrival jitter (RFC 3550 A.8) is computed from when the packet
 *    reached the host, not from when the event loop got round to it. That is
 *    the timestamp tshark uses, and the difference is 0.07-0.2 ms of jitter.
 *  - a cheap path per packet: one sendto() per RTP packet called directly,
 *    and recvmmsg() draining a socket in one wake-up, instead of dgram's
 *    send queue, lookup and per-send request objects.
 *
 * One uv_poll_t per socket on the calling environment's libuv loop. Every
 * callback runs on that loop's thread. Context-aware (worker threads load
 * their own instance).
 *
 * JS API (wrapped by src/rtp/udp.ts):
 *   open(family 4|6, address, port, onMessage(buf, address, port, monoNs),
 *        onError(errno, syscall)) -> handle      throws {code, errno, syscall}
 *   send(handle, bytes, port, address) -> 0 | -errno     (synchronous sendto)
 *   localPort(handle) -> number
 *   close(handle)                                (idempotent)
 *   monotonicNs() -> number     (CLOCK_MONOTONIC, the clock of hrtime)
 *   openCount() -> number       (sockets of this environment not yet closed)
 *
 * monoNs is the kernel receive time moved onto CLOCK_MONOTONIC (the clock of
 * process.hrtime): SO_TIMESTAMPNS stamps with CLOCK_REALTIME, so the packet's
 * age (realtime now - stamp) is subtracted from monotonic now. An age below 0
 * or above 1 s (the wall clock stepped) falls back to the read time.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <node_api.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#define BATCH 16
#define MAX_DGRAM 65536
/* Datagrams delivered per wake-up before yielding to the rest of the loop. */
#define MAX_PER_WAKE 256

typedef struct {
  uv_poll_t poll;
  int fd;
  int family;
  int closing;   /* close() called or finalized: no more callbacks */
  int orphaned;  /* JS handle collected: free when the poll handle is closed */
  int closed;    /* poll handle closed, fd closed */
  int in_callback; /* inside call_js: JS references are released after it returns */
  int refs_released;
  napi_env env;
  napi_ref on_message;
  napi_ref on_error;
  napi_ref resource;
  napi_async_context actx;
  /* The last source address and its JS string, reused while it repeats. */
  struct sockaddr_storage last_from;
  napi_ref last_from_str;
  int *open_count;
} sock_t;

typedef struct {
  int open_count;
} instance_t;

static __thread unsigned char *rx_buffers = NULL;

#define CHECK(call)                                                     \
  do {                                                                  \
    if ((call) != napi_ok) {                                            \
      napi_throw_error(env, "E_UDPIO", "N-API call failed: " #call);    \
      return NULL;                                                      \
    }                                                                   \
  } while (0)

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

static void on_poll_closed(uv_handle_t *handle) {
  sock_t *s = (sock_t *)handle->data;
  s->closed = 1;
  if (s->orphaned) free(s);
}

static void release_refs(sock_t *s) {
  if (s->refs_released) return;
  s->refs_released = 1;
  napi_env env = s->env;
  napi_delete_reference(env, s->on_message);
  napi_delete_reference(env, s->on_error);
  if (s->last_from_str) napi_delete_reference(env, s->last_from_str);
  s->last_from_str = NULL;
  napi_async_destroy(env, s->actx);
  napi_delete_reference(env, s->resource);
}

/* Stops callbacks and closes the socket; safe to call twice, and from a callback. */
static void begin_close(sock_t *s) {
  if (s->closing) return;
  s->closing = 1;
  (*s->open_count)--;
  if (!s->in_callback) release_refs(s);
  uv_poll_stop(&s->poll);
  /* uv_close removes the fd from epoll before it returns, so the socket can
   * be closed now: the port is free when close() returns, as with dgram. */
  uv_close((uv_handle_t *)&s->poll, on_poll_closed);
  close(s->fd);
  s->fd = -1;
}

static void finalize_sock(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  sock_t *s = (sock_t *)data;
  if (s->closed) {
    free(s);
    return;
  }
  s->orphaned = 1;
  begin_close(s);
}

/* Calls fn(argv) as a top-level callback (microtasks and nextTicks run after it). */
static void call_js(sock_t *s, napi_ref fn_ref, size_t argc, napi_value *argv) {
  napi_env env = s->env;
  napi_value fn, recv, result;
  if (napi_get_reference_value(env, fn_ref, &fn) != napi_ok || fn == NULL) return;
  napi_get_undefined(env, &recv);
  napi_value resource;
  napi_get_reference_value(env, s->resource, &resource);
  napi_callback_scope scope;
  napi_open_callback_scope(env, resource, s->actx, &scope);
  s->in_callback = 1;
  napi_status status = napi_call_function(env, recv, fn, argc, argv, &result);
  if (status == napi_pending_exception) {
    napi_value err;
    napi_get_and_clear_last_exception(env, &err);
    napi_fatal_exception(env, err); /* process 'uncaughtException', as for any event handler */
  }
  napi_close_callback_scope(env, scope);
  s->in_callback = 0;
  if (s->closing) release_refs(s);
}

static napi_value from_address(sock_t *s, const struct sockaddr_storage *from, int *port) {
  napi_env env = s->env;
  napi_value str = NULL;
  size_t cmp = from->ss_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
  if (from->ss_family == AF_INET6) {
    *port = ntohs(((const struct sockaddr_in6 *)from)->sin6_port);
  } else {
    *port = ntohs(((const struct sockaddr_in *)from)->sin_port);
  }
  if (s->last_from_str && memcmp(&s->last_from, from, cmp) == 0) {
    napi_get_reference_value(env, s->last_from_str, &str);
    if (str) return str;
  }
  char text[INET6_ADDRSTRLEN + 1] = {0};
  if (from->ss_family == AF_INET6) {
    inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)from)->sin6_addr, text, sizeof text);
  } else {
    inet_ntop(AF_INET, &((const struct sockaddr_in *)from)->sin_addr, text, sizeof text);
  }
  napi_create_string_latin1(env, text, NAPI_AUTO_LENGTH, &str);
  if (s->last_from_str) napi_delete_reference(env, s->last_from_str);
  napi_create_reference(env, str, 1, &s->last_from_str);
  memcpy(&s->last_from, from, cmp);
  return str;
}

static void report_error(sock_t *s, int err, const char *syscall) {
  napi_env env = s->env;
  napi_handle_scope hs;
  napi_open_handle_scope(env, &hs);
  napi_value argv[2];
  napi_create_int32(env, -err, &argv[0]);
  napi_create_string_utf8(env, syscall, NAPI_AUTO_LENGTH, &argv[1]);
  call_js(s, s->on_error, 2, argv);
  napi_close_handle_scope(env, hs);
}

static void on_readable(uv_poll_t *handle, int status, int events) {
  (void)events;
  sock_t *s = (sock_t *)handle->data;
  if (s->closing) return;
  if (status < 0) {
    report_error(s, -status, "poll");
    return;
  }
  if (rx_buffers == NULL) {
    rx_buffers = malloc((size_t)BATCH * MAX_DGRAM);
    if (rx_buffers == NULL) {
      report_error(s, ENOMEM, "recvmmsg");
      return;
    }
  }
  struct mmsghdr msgs[BATCH];
  struct iovec iovs[BATCH];
  struct sockaddr_storage froms[BATCH];
  char controls[BATCH][CMSG_SPACE(sizeof(struct timespec))];
  napi_env env = s->env;
  int delivered = 0;
  while (!s->closing && delivered < MAX_PER_WAKE) {
    memset(msgs, 0, sizeof msgs);
    for (int i = 0; i < BATCH; i++) {
      iovs[i].iov_base = rx_buffers + (size_t)i * MAX_DGRAM;
      iovs[i].iov_len = MAX_DGRAM;
      msgs[i].msg_hdr.msg_iov = &iovs[i];
      msgs[i].msg_hdr.msg_iovlen = 1;
      msgs[i].msg_hdr.msg_name = &froms[i];
      msgs[i].msg_hdr.msg_namelen = sizeof froms[i];
      msgs[i].msg_hdr.msg_control = controls[i];
      msgs[i].msg_hdr.msg_controllen = sizeof controls[i];
    }
    int n = recvmmsg(s->fd, msgs, BATCH, MSG_DONTWAIT, NULL);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) report_error(s, errno, "recvmmsg");
      break;
    }
    struct timespec real_now, mono_now;
    clock_gettime(CLOCK_REALTIME, &real_now);
    clock_gettime(CLOCK_MONOTONIC, &mono_now);
    int64_t real_ns = ts_ns(&real_now);
    int64_t mono_ns = ts_ns(&mono_now);
    for (int i = 0; i < n && !s->closing; i++) {
      int64_t arrival = mono_ns;
      for (struct cmsghdr *c = CMSG_FIRSTHDR(&msgs[i].msg_hdr); c != NULL; c = CMSG_NXTHDR(&msgs[i].msg_hdr, c)) {
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_TIMESTAMPNS) {
          struct timespec stamp;
          memcpy(&stamp, CMSG_DATA(c), sizeof stamp);
          int64_t age = real_ns - ts_ns(&stamp);
          if (age >= 0 && age < 1000000000LL) arrival = mono_ns - age;
        }
      }
      napi_handle_scope hs;
      napi_open_handle_scope(env, &hs);
      napi_value argv[4];
      int port = 0;
      napi_create_buffer_copy(env, msgs[i].msg_len, iovs[i].iov_base, NULL, &argv[0]);
      argv[1] = from_address(s, &froms[i], &port);
      napi_create_int32(env, port, &argv[2]);
      napi_create_double(env, (double)arrival, &argv[3]);
      call_js(s, s->on_message, 4, argv);
      napi_close_handle_scope(env, hs);
    }
    delivered += n;
    if (n < BATCH) break;
  }
}

static sock_t *get_sock(napi_env env, napi_value v) {
  void *data = NULL;
  if (napi_get_value_external(env, v, &data) != napi_ok || data == NULL) {
    napi_throw_type_error(env, "E_UDPIO", "not a udpio socket handle");
    return NULL;
  }
  return (sock_t *)data;
}

static napi_value Open(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 5) {
    napi_throw_type_error(env, "E_UDPIO", "open(family, address, port, onMessage, onError)");
    return NULL;
  }
  int32_t family = 4, port = 0;
  char address[INET6_ADDRSTRLEN + 1];
  size_t addrlen = 0;
  CHECK(napi_get_value_int32(env, argv[0], &family));
  CHECK(napi_get_value_string_latin1(env, argv[1], address, sizeof address, &addrlen));
  CHECK(napi_get_value_int32(env, argv[2], &port));
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
  instance_t *inst = NULL;
  napi_get_instance_data(env, (void **)&inst);
  uv_loop_t *loop = NULL;
  CHECK(napi_get_uv_event_loop(env, &loop));
  sock_t *s = calloc(1, sizeof *s);
  if (s == NULL) {
    close(fd);
    throw_errno(env, ENOMEM, "open", address, port);
    return NULL;
  }
  s->fd = fd;
  s->family = family;
  s->env = env;
  s->open_count = &inst->open_count;
  napi_value resource, name;
  CHECK(napi_create_object(env, &resource));
  CHECK(napi_create_string_utf8(env, "callprobe:udpio", NAPI_AUTO_LENGTH, &name));
  CHECK(napi_create_reference(env, resource, 1, &s->resource));
  CHECK(napi_async_init(env, resource, name, &s->actx));
  CHECK(napi_create_reference(env, argv[3], 1, &s->on_message));
  CHECK(napi_create_reference(env, argv[4], 1, &s->on_error));
  if (uv_poll_init(loop, &s->poll, fd) != 0) {
    close(fd);
    free(s);
    throw_errno(env, EIO, "poll", address, port);
    return NULL;
  }
  s->poll.data = s;
  uv_poll_start(&s->poll, UV_READABLE, on_readable);
  inst->open_count++;
  napi_value handle;
  CHECK(napi_create_external(env, s, finalize_sock, NULL, &handle));
  return handle;
}

static napi_value Send(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  sock_t *s = get_sock(env, argv[0]);
  if (s == NULL) return NULL;
  napi_value result;
  if (s->closing) {
    napi_create_int32(env, -EBADF, &result);
    return result;
  }
  void *data = NULL;
  size_t length = 0;
  bool is_typed = false;
  napi_is_typedarray(env, argv[1], &is_typed);
  if (is_typed) {
    napi_typedarray_type type;
    napi_value ab;
    size_t offset;
    CHECK(napi_get_typedarray_info(env, argv[1], &type, &length, &data, &ab, &offset));
  } else {
    CHECK(napi_get_buffer_info(env, argv[1], &data, &length));
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
      sent = sendto(s->fd, data, length, 0, (struct sockaddr *)&sa, salen);
    } while (sent < 0 && errno == EINTR);
    if (sent < 0) rc = -errno;
  }
  napi_create_int32(env, rc, &result);
  return result;
}

static napi_value LocalPort(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  sock_t *s = get_sock(env, argv[0]);
  if (s == NULL) return NULL;
  struct sockaddr_storage sa;
  socklen_t len = sizeof sa;
  int port = -1;
  if (!s->closing && getsockname(s->fd, (struct sockaddr *)&sa, &len) == 0) {
    port = sa.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&sa)->sin6_port)
                                    : ntohs(((struct sockaddr_in *)&sa)->sin_port);
  }
  napi_value result;
  napi_create_int32(env, port, &result);
  return result;
}

static napi_value Close(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  sock_t *s = get_sock(env, argv[0]);
  if (s == NULL) return NULL;
  begin_close(s);
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

static napi_value OpenCount(napi_env env, napi_callback_info info) {
  (void)info;
  instance_t *inst = NULL;
  napi_get_instance_data(env, (void **)&inst);
  napi_value result;
  napi_create_int32(env, inst ? inst->open_count : 0, &result);
  return result;
}

static void free_instance(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  free(data);
}

NAPI_MODULE_INIT() {
  instance_t *inst = calloc(1, sizeof *inst);
  if (inst == NULL || napi_set_instance_data(env, inst, free_instance, NULL) != napi_ok) return NULL;
  napi_property_descriptor props[] = {
    {"open", NULL, Open, NULL, NULL, NULL, napi_enumerable, NULL},
    {"send", NULL, Send, NULL, NULL, NULL, napi_enumerable, NULL},
    {"localPort", NULL, LocalPort, NULL, NULL, NULL, napi_enumerable, NULL},
    {"close", NULL, Close, NULL, NULL, NULL, napi_enumerable, NULL},
    {"monotonicNs", NULL, MonotonicNs, NULL, NULL, NULL, napi_enumerable, NULL},
    {"openCount", NULL, OpenCount, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  if (napi_define_properties(env, exports, sizeof props / sizeof props[0], props) != napi_ok) return NULL;
  return exports;
}
