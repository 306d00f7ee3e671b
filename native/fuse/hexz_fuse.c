// hexz_fuse: the smallest libfuse3 binding hexz needs, on the low-level API.
//
// Why low-level and asynchronous: a libfuse request handler may return before it replies
// (fuse_reply_* may be called later). So each request is handed to JavaScript without waiting;
// the JavaScript side answers whenever its read finishes, in any order. Any number of requests
// are in flight at once (the high-level API would need one blocked libfuse thread per
// outstanding request instead).
//
// Why on the JavaScript thread: /dev/fuse is read (non-blocking) when libuv's poll says it is
// readable, and each request goes to the handler in the same turn. An earlier version read it on
// a session thread and passed requests through a thread-safe function: every request then woke
// two threads, and on a loaded two-core machine a random 4 KiB read lost 1-4 ms now and then
// waiting for the second (the slowest reads were spent before the handler ran, not in it).
//
// JavaScript sees: mount(dir, args[], handler) -> session; handler(op, req, ino, a, b, data|name)
// is called for each request and for the session's own events (init, exit); reply*(req, ...)
// answers a request; destroy(session) frees it once the session has ended.
#define FUSE_USE_VERSION 35
#include <fuse_lowlevel.h>
#include <node_api.h>
#include <uv.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

// Operation codes passed to JavaScript (mirrored in src/mount/fuse-binding.ts).
enum op {
  OP_INIT = 1, OP_EXIT, OP_LOOKUP, OP_GETATTR, OP_SETATTR, OP_OPEN, OP_READ, OP_WRITE,
  OP_FLUSH, OP_FSYNC, OP_RELEASE, OP_READDIR, OP_LSEEK, OP_STATFS,
};

typedef struct {
  struct fuse_session *se;
  napi_env env;
  napi_ref handler;
  napi_async_context context;
  uv_poll_t poll;
  struct fuse_buf buf;  // libfuse's receive buffer (allocated by its first read)
  int running;          // mounted and polled; not yet ended (OP_EXIT) or destroyed
  int polling;          // the poll handle is open (closed asynchronously)
  int external;         // the JavaScript session object still refers to it
  int loop_result;      // why the session ended, reported with OP_EXIT (0: unmounted)
  char *mountpoint;
} session_t;

// One request (or event) on its way to JavaScript.
typedef struct {
  int op;
  fuse_req_t req;
  double ino, a, b;  // inode; op-specific numbers (offset, size, whence, flags, setattr mask)
  char *bytes;       // write data or lookup name (owned; freed after the call)
  size_t nbytes;
} call_t;

#define CHECK(call) do { if ((call) != napi_ok) { napi_throw_error(env, NULL, "hexz_fuse: " #call " failed"); return NULL; } } while (0)

static void deliver(session_t *s, call_t *c);

static void post(fuse_req_t req, int op, double ino, double a, double b, const char *bytes, size_t nbytes) {
  session_t *s = fuse_req_userdata(req);
  call_t c = { op, req, ino, a, b, NULL, 0 };
  if (bytes) {
    c.bytes = malloc(nbytes + 1);
    if (!c.bytes) { fuse_reply_err(req, ENOMEM); return; }
    memcpy(c.bytes, bytes, nbytes);
    c.bytes[nbytes] = 0;
    c.nbytes = nbytes;
  }
  deliver(s, &c);
  free(c.bytes);
}

static void ll_init(void *userdata, struct fuse_conn_info *conn) {
  session_t *s = userdata;
  // More background (readahead) requests in flight than the kernel's default 12.
  conn->max_background = 64;
  conn->congestion_threshold = 48;
  call_t c = { OP_INIT, NULL, 0, 0, 0, NULL, 0 };
  deliver(s, &c);
}
static void ll_lookup(fuse_req_t req, fuse_ino_t parent, const char *name) { post(req, OP_LOOKUP, parent, 0, 0, name, strlen(name)); }
static void ll_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi) { (void)fi; post(req, OP_GETATTR, ino, 0, 0, NULL, 0); }
static void ll_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set, struct fuse_file_info *fi) {
  (void)fi; post(req, OP_SETATTR, ino, to_set, (double)attr->st_size, NULL, 0);
}
static void ll_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi) { post(req, OP_OPEN, ino, fi->flags, 0, NULL, 0); }
static void ll_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi) { (void)fi; post(req, OP_READ, ino, (double)off, (double)size, NULL, 0); }
static void ll_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off, struct fuse_file_info *fi) {
  (void)fi; post(req, OP_WRITE, ino, (double)off, (double)size, buf, size);
}
static void ll_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi) { (void)fi; post(req, OP_FLUSH, ino, 0, 0, NULL, 0); }
static void ll_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi) { (void)fi; post(req, OP_FSYNC, ino, datasync, 0, NULL, 0); }
static void ll_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi) { (void)fi; post(req, OP_RELEASE, ino, 0, 0, NULL, 0); }
static void ll_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi) { (void)fi; post(req, OP_READDIR, ino, (double)off, (double)size, NULL, 0); }
static void ll_lseek(fuse_req_t req, fuse_ino_t ino, off_t off, int whence, struct fuse_file_info *fi) { (void)fi; post(req, OP_LSEEK, ino, (double)off, whence, NULL, 0); }
static void ll_statfs(fuse_req_t req, fuse_ino_t ino) { post(req, OP_STATFS, ino, 0, 0, NULL, 0); }

static const struct fuse_lowlevel_ops ops = {
  .init = ll_init, .lookup = ll_lookup, .getattr = ll_getattr, .setattr = ll_setattr,
  .open = ll_open, .read = ll_read, .write = ll_write, .flush = ll_flush, .fsync = ll_fsync,
  .release = ll_release, .readdir = ll_readdir, .lseek = ll_lseek, .statfs = ll_statfs,
};

// Calls the handler with one request or event, on the JavaScript thread (inside libuv's poll
// callback: a callback scope of its own, so promise jobs run after it as after any I/O event).
static void deliver(session_t *s, call_t *c) {
  napi_env env = s->env;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) { if (c->req) fuse_reply_err(c->req, EIO); return; }
  napi_value handler, argv[6], undef, global;
  napi_get_undefined(env, &undef);
  napi_get_global(env, &global);
  if (napi_get_reference_value(env, s->handler, &handler) != napi_ok || !handler) {
    if (c->req) fuse_reply_err(c->req, EIO);
    napi_close_handle_scope(env, scope);
    return;
  }
  napi_create_int32(env, c->op, &argv[0]);
  if (c->req) napi_create_external(env, c->req, NULL, NULL, &argv[1]); else argv[1] = undef;
  napi_create_double(env, c->ino, &argv[2]);
  napi_create_double(env, c->a, &argv[3]);
  napi_create_double(env, c->b, &argv[4]);
  if (c->op == OP_LOOKUP) napi_create_string_utf8(env, c->bytes, c->nbytes, &argv[5]);
  else if (c->bytes) napi_create_buffer_copy(env, c->nbytes, c->bytes, NULL, &argv[5]);
  else argv[5] = undef;
  if (napi_make_callback(env, s->context, global, handler, 6, argv, NULL) == napi_pending_exception) {
    napi_value err;
    // Thrown by the handler: Node's uncaught-exception handling, as for any callback.
    if (napi_get_and_clear_last_exception(env, &err) == napi_ok) napi_fatal_exception(env, err);
  }
  napi_close_handle_scope(env, scope);
}

static void session_release(session_t *s) {
  if (s->polling || s->external) return;
  free(s->buf.mem);
  free(s->mountpoint);
  free(s);
}

static void poll_closed(uv_handle_t *h) {
  session_t *s = h->data;
  s->polling = 0;
  session_release(s);
}

// The session ends (unmounted, or a read error): stop polling and tell JavaScript once.
static void session_end(session_t *s, int result) {
  if (!s->running) return;
  s->running = 0;
  s->loop_result = result;
  uv_poll_stop(&s->poll);
  uv_close((uv_handle_t *)&s->poll, poll_closed);
  call_t c = { OP_EXIT, NULL, result, result, 0, NULL, 0 };
  deliver(s, &c);
}

// /dev/fuse is readable: take every request waiting (non-blocking) and hand each to JavaScript.
static void on_readable(uv_poll_t *h, int status, int events) {
  (void)events;
  session_t *s = h->data;
  if (!s->running) return;
  if (status < 0) { session_end(s, status); return; }
  for (int n = 0; n < 64 && s->running; n++) {
    int res = fuse_session_receive_buf(s->se, &s->buf);
    if (res == -EINTR) continue;
    if (res == -EAGAIN) return;
    if (res <= 0 || fuse_session_exited(s->se)) { session_end(s, res < 0 ? res : 0); return; }
    fuse_session_process_buf(s->se, &s->buf);
  }
}

static session_t *get_session(napi_env env, napi_value v) {
  void *p = NULL;
  if (napi_get_value_external(env, v, &p) != napi_ok || !p) { napi_throw_type_error(env, NULL, "hexz_fuse: not a session"); return NULL; }
  return p;
}
static fuse_req_t get_req(napi_env env, napi_value v) {
  void *p = NULL;
  if (napi_get_value_external(env, v, &p) != napi_ok || !p) { napi_throw_type_error(env, NULL, "hexz_fuse: not a request"); return NULL; }
  return p;
}
static double get_num(napi_env env, napi_value v) { double d = 0; napi_get_value_double(env, v, &d); return d; }

static void session_free(napi_env env, void *data, void *hint) {
  (void)env; (void)hint;
  session_t *s = data;
  s->external = 0;
  session_release(s);
}

// mount(dir: string, args: string[], handler: Function): session. Mounts and starts polling /dev/fuse.
static napi_value js_mount(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3], result, name;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  size_t len;
  CHECK(napi_get_value_string_utf8(env, argv[0], NULL, 0, &len));
  char *dir = malloc(len + 1);
  CHECK(napi_get_value_string_utf8(env, argv[0], dir, len + 1, &len));
  uint32_t nargs;
  CHECK(napi_get_array_length(env, argv[1], &nargs));
  struct fuse_args args = FUSE_ARGS_INIT(0, NULL);
  for (uint32_t i = 0; i < nargs; i++) {
    napi_value item;
    char buf[4096];
    CHECK(napi_get_element(env, argv[1], i, &item));
    CHECK(napi_get_value_string_utf8(env, item, buf, sizeof buf, &len));
    fuse_opt_add_arg(&args, buf);
  }
  session_t *s = calloc(1, sizeof *s);
  s->mountpoint = dir;
  s->env = env;
  s->se = fuse_session_new(&args, &ops, sizeof ops, s);
  fuse_opt_free_args(&args);
  if (!s->se) { free(dir); free(s); napi_throw_error(env, "EINVAL", "fuse_session_new failed (bad mount options)"); return NULL; }
  if (fuse_session_mount(s->se, dir) != 0) {
    fuse_session_destroy(s->se); free(dir); free(s);
    napi_throw_error(env, "EMOUNT", "fuse_session_mount failed");
    return NULL;
  }
  int fd = fuse_session_fd(s->se);
  uv_loop_t *loop = NULL;
  CHECK(napi_get_uv_event_loop(env, &loop));
  CHECK(napi_create_reference(env, argv[2], 1, &s->handler));
  CHECK(napi_create_string_utf8(env, "hexz_fuse", NAPI_AUTO_LENGTH, &name));
  CHECK(napi_async_init(env, NULL, name, &s->context));
  if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) != 0 || uv_poll_init(loop, &s->poll, fd) != 0) {
    napi_delete_reference(env, s->handler);
    napi_async_destroy(env, s->context);
    fuse_session_unmount(s->se); fuse_session_destroy(s->se); free(dir); free(s);
    napi_throw_error(env, "EPOLL", "cannot poll /dev/fuse");
    return NULL;
  }
  s->poll.data = s;
  s->polling = 1;
  s->running = 1;
  s->external = 1;
  // The active poll handle keeps the event loop alive while the file system is mounted.
  uv_poll_start(&s->poll, UV_READABLE, on_readable);
  CHECK(napi_create_external(env, s, session_free, NULL, &result));
  return result;
}

// destroy(session): after OP_EXIT (or to end a session early) and once every request has been
// answered: stops polling, unmounts if still mounted, frees libfuse's session.
static napi_value js_destroy(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  session_t *s = get_session(env, argv[0]);
  if (!s || !s->se) return NULL;
  if (s->running) {
    s->running = 0;
    uv_poll_stop(&s->poll);
    uv_close((uv_handle_t *)&s->poll, poll_closed);
  }
  fuse_session_unmount(s->se);
  fuse_session_destroy(s->se);
  s->se = NULL;
  if (s->handler) { napi_delete_reference(env, s->handler); s->handler = NULL; }
  if (s->context) { napi_async_destroy(env, s->context); s->context = NULL; }
  return NULL;
}

// replyErr(req, errno)
static napi_value js_reply_err(napi_env env, napi_callback_info info) {
  size_t argc = 2; napi_value argv[2];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  fuse_req_t req = get_req(env, argv[0]);
  if (req) fuse_reply_err(req, (int)get_num(env, argv[1]));
  return NULL;
}

// replyBuf(req, data: Uint8Array): a read's bytes (copied to the kernel before returning).
static napi_value js_reply_buf(napi_env env, napi_callback_info info) {
  size_t argc = 2; napi_value argv[2];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  fuse_req_t req = get_req(env, argv[0]);
  if (!req) return NULL;
  void *data = NULL; size_t length = 0; napi_typedarray_type type; napi_value ab; size_t offset;
  CHECK(napi_get_typedarray_info(env, argv[1], &type, &length, &data, &ab, &offset));
  fuse_reply_buf(req, data, length);
  return NULL;
}

static void fill_stat(napi_env env, napi_value *v, struct stat *st) {
  // v: ino, mode, size, mtimeMs, uid, gid, nlink
  memset(st, 0, sizeof *st);
  double mtime = get_num(env, v[3]);
  st->st_ino = (ino_t)get_num(env, v[0]);
  st->st_mode = (mode_t)get_num(env, v[1]);
  st->st_size = (off_t)get_num(env, v[2]);
  st->st_mtim.tv_sec = (time_t)(mtime / 1000);
  st->st_mtim.tv_nsec = (long)((mtime - (double)st->st_mtim.tv_sec * 1000) * 1e6);
  st->st_atim = st->st_mtim;
  st->st_ctim = st->st_mtim;
  st->st_uid = (uid_t)get_num(env, v[4]);
  st->st_gid = (gid_t)get_num(env, v[5]);
  st->st_nlink = (nlink_t)get_num(env, v[6]);
  st->st_blksize = 4096;
  st->st_blocks = (st->st_size + 511) / 512;
}

// replyAttr(req, ino, mode, size, mtimeMs, uid, gid, nlink, timeoutSeconds)
static napi_value js_reply_attr(napi_env env, napi_callback_info info) {
  size_t argc = 9; napi_value argv[9];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  fuse_req_t req = get_req(env, argv[0]);
  if (!req) return NULL;
  struct stat st;
  fill_stat(env, argv + 1, &st);
  fuse_reply_attr(req, &st, get_num(env, argv[8]));
  return NULL;
}

// replyEntry(req, ino, mode, size, mtimeMs, uid, gid, nlink, timeoutSeconds)
static napi_value js_reply_entry(napi_env env, napi_callback_info info) {
  size_t argc = 9; napi_value argv[9];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  fuse_req_t req = get_req(env, argv[0]);
  if (!req) return NULL;
  struct fuse_entry_param e;
  memset(&e, 0, sizeof e);
  fill_stat(env, argv + 1, &e.attr);
  e.ino = e.attr.st_ino;
  e.attr_timeout = e.entry_timeout = get_num(env, argv[8]);
  fuse_reply_entry(req, &e);
  return NULL;
}

// replyOpen(req, keepCache: boolean)
static napi_value js_reply_open(napi_env env, napi_callback_info info) {
  size_t argc = 2; napi_value argv[2];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  fuse_req_t req = get_req(env, argv[0]);
  if (!req) return NULL;
  bool keep = false;
  napi_get_value_bool(env, argv[1], &keep);
  struct fuse_file_info fi;
  memset(&fi, 0, sizeof fi);
  fi.keep_cache = keep;  // the bytes under a read-only archive never change: keep the page cache across opens
  fuse_reply_open(req, &fi);
  return NULL;
}

// replyCount(req, n): bytes written.
static napi_value js_reply_write(napi_env env, napi_callback_info info) {
  size_t argc = 2; napi_value argv[2];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  fuse_req_t req = get_req(env, argv[0]);
  if (req) fuse_reply_write(req, (size_t)get_num(env, argv[1]));
  return NULL;
}

// replyLseek(req, offset)
static napi_value js_reply_lseek(napi_env env, napi_callback_info info) {
  size_t argc = 2; napi_value argv[2];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  fuse_req_t req = get_req(env, argv[0]);
  if (req) fuse_reply_lseek(req, (off_t)get_num(env, argv[1]));
  return NULL;
}

// replyDir(req, size, offset, entries: [name, ino, mode][]): the entries from index `offset`
// on that fit in `size` bytes; each entry's offset is its index + 1.
static napi_value js_reply_dir(napi_env env, napi_callback_info info) {
  size_t argc = 4; napi_value argv[4];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  fuse_req_t req = get_req(env, argv[0]);
  if (!req) return NULL;
  size_t size = (size_t)get_num(env, argv[1]);
  uint32_t off = (uint32_t)get_num(env, argv[2]), n;
  CHECK(napi_get_array_length(env, argv[3], &n));
  char *buf = malloc(size ? size : 1);
  size_t used = 0;
  for (uint32_t i = off; i < n; i++) {
    napi_value entry, v;
    char name[256];
    size_t len;
    struct stat st;
    memset(&st, 0, sizeof st);
    CHECK(napi_get_element(env, argv[3], i, &entry));
    CHECK(napi_get_element(env, entry, 0, &v));
    CHECK(napi_get_value_string_utf8(env, v, name, sizeof name, &len));
    CHECK(napi_get_element(env, entry, 1, &v));
    st.st_ino = (ino_t)get_num(env, v);
    CHECK(napi_get_element(env, entry, 2, &v));
    st.st_mode = (mode_t)get_num(env, v);
    size_t need = fuse_add_direntry(req, buf + used, size - used, name, &st, i + 1);
    if (need > size - used) break;
    used += need;
  }
  fuse_reply_buf(req, buf, used);
  free(buf);
  return NULL;
}

// replyStatfs(req, blocks, files): 4 KiB blocks, none free.
static napi_value js_reply_statfs(napi_env env, napi_callback_info info) {
  size_t argc = 3; napi_value argv[3];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  fuse_req_t req = get_req(env, argv[0]);
  if (!req) return NULL;
  struct statvfs sv;
  memset(&sv, 0, sizeof sv);
  sv.f_bsize = sv.f_frsize = 4096;
  sv.f_blocks = (fsblkcnt_t)get_num(env, argv[1]);
  sv.f_files = (fsfilcnt_t)get_num(env, argv[2]);
  sv.f_namemax = 255;
  fuse_reply_statfs(req, &sv);
  return NULL;
}

static napi_value init(napi_env env, napi_value exports) {
  const napi_property_descriptor props[] = {
    {"mount", NULL, js_mount, NULL, NULL, NULL, napi_default, NULL},
    {"destroy", NULL, js_destroy, NULL, NULL, NULL, napi_default, NULL},
    {"replyErr", NULL, js_reply_err, NULL, NULL, NULL, napi_default, NULL},
    {"replyBuf", NULL, js_reply_buf, NULL, NULL, NULL, napi_default, NULL},
    {"replyAttr", NULL, js_reply_attr, NULL, NULL, NULL, napi_default, NULL},
    {"replyEntry", NULL, js_reply_entry, NULL, NULL, NULL, napi_default, NULL},
    {"replyOpen", NULL, js_reply_open, NULL, NULL, NULL, napi_default, NULL},
    {"replyWrite", NULL, js_reply_write, NULL, NULL, NULL, napi_default, NULL},
    {"replyLseek", NULL, js_reply_lseek, NULL, NULL, NULL, napi_default, NULL},
    {"replyDir", NULL, js_reply_dir, NULL, NULL, NULL, napi_default, NULL},
    {"replyStatfs", NULL, js_reply_statfs, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
