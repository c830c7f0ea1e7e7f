// debug/report.cpp — reports with stacks, symbolised from /proc/self/maps without allocating.
#include "debug/report.h"

#include <atomic>
#include <cstring>

#include "base/bits.h"
#include "debug/config.h"
#include "debug/stack.h"
#include "os/os.h"
#include "os/signals.h"

namespace lfh::debug {
namespace {

// ---- the report lock --------------------------------------------------------------------------
constinit std::atomic<std::uint32_t> g_report_owner{0};

class ReportLock {
 public:
  ReportLock() {
    std::uint32_t me = os::kernel_tid();
    if (g_report_owner.load(std::memory_order_relaxed) == me) return;   // nested (a fault inside)
    std::uint32_t expected = 0;
    while (!g_report_owner.compare_exchange_weak(expected, me, std::memory_order_acquire)) {
      expected = 0;
      os::yield_cpu();
    }
    owned_ = true;
  }
  ~ReportLock() {
    if (owned_) g_report_owner.store(0, std::memory_order_release);
  }

 private:
  bool owned_ = false;
};

void emit(const LineBuf &l) { os::write_all(2, l.data(), l.size()); }

// ---- symbolisation: /proc/self/maps --------------------------------------------------------------
constexpr int kMaxModules = 48;
constexpr int kMaxPcs = 3 * kMaxFrames + 2;

struct Module {
  char path[384];
  std::uintptr_t base;   // what to subtract from a pc to get the addr2line address
};
Module g_modules[kMaxModules];
int g_module_count = 0;
int g_pc_module[kMaxPcs];
std::uintptr_t g_pc_offset[kMaxPcs];
char g_maps_buf[8192];
char g_cur_path[384];
std::uintptr_t g_cur_base;
bool g_cur_exec_file;

int module_index(const char *path, std::uintptr_t base) {
  for (int i = 0; i < g_module_count; ++i)
    if (g_modules[i].base == base && std::strcmp(g_modules[i].path, path) == 0) return i;
  if (g_module_count == kMaxModules) return -1;
  Module &m = g_modules[g_module_count];
  std::size_t n = std::strlen(path);
  if (n >= sizeof m.path) n = sizeof m.path - 1;
  std::memcpy(m.path, path, n);
  m.path[n] = 0;
  m.base = base;
  return g_module_count++;
}

// One line of /proc/self/maps: "start-end perms offset dev inode   path".
void maps_line(const char *p, const char *end, const std::uintptr_t *pcs, int n) {
  std::uintptr_t start = parse_hex(p, end);
  if (p < end && *p == '-') ++p;
  std::uintptr_t stop = parse_hex(p, end);
  while (p < end && *p == ' ') ++p;
  char perms[5] = {0, 0, 0, 0, 0};
  for (int i = 0; i < 4 && p < end; ++i) perms[i] = *p++;
  while (p < end && *p == ' ') ++p;
  std::uintptr_t offset = parse_hex(p, end);
  // dev, inode
  for (int field = 0; field < 2; ++field) {
    while (p < end && *p == ' ') ++p;
    while (p < end && *p != ' ') ++p;
  }
  while (p < end && *p == ' ') ++p;
  char path[384];
  std::size_t len = std::size_t(end - p);
  if (len >= sizeof path) len = sizeof path - 1;
  std::memcpy(path, p, len);
  path[len] = 0;
  if (path[0] == 0) std::memcpy(path, "[anon]", 7);
  if (offset == 0 && path[0] == '/') {
    // A module's first mapping: its load address. A fixed-address executable (ET_EXEC) is
    // symbolised by absolute address.
    std::memcpy(g_cur_path, path, len + 1);
    g_cur_base = start;
    g_cur_exec_file = false;
    if (perms[0] == 'r' && stop - start >= 64) {
      const unsigned char *e = reinterpret_cast<const unsigned char *>(start);
      if (e[0] == 0x7f && e[1] == 'E' && e[2] == 'L' && e[3] == 'F') {
        std::uint16_t type;
        std::memcpy(&type, e + 16, 2);
        g_cur_exec_file = type == 2;   // ET_EXEC
      }
    }
  }
  bool any = false;
  for (int i = 0; i < n; ++i)
    if (pcs[i] >= start && pcs[i] < stop) any = true;
  if (!any) return;
  std::uintptr_t base;
  if (std::strcmp(path, g_cur_path) == 0) base = g_cur_exec_file ? 0 : g_cur_base;
  else if (path[0] == '/') base = start - offset;
  else base = start;   // [vdso], [anon], …: offset into the mapping
  int m = module_index(path, base);
  for (int i = 0; i < n; ++i) {
    if (pcs[i] >= start && pcs[i] < stop) {
      g_pc_module[i] = m;
      g_pc_offset[i] = pcs[i] - base;
    }
  }
}

void symbolize(const std::uintptr_t *pcs, int n) {
  g_module_count = 0;
  g_cur_path[0] = 0;
  g_cur_base = 0;
  g_cur_exec_file = false;
  for (int i = 0; i < n; ++i) g_pc_module[i] = -1;
  int fd = os::open_for_read("/proc/self/maps");
  if (fd < 0) return;
  std::size_t have = 0;
  for (;;) {
    long r = os::read_some(fd, g_maps_buf + have, sizeof g_maps_buf - have);
    if (r > 0) have += std::size_t(r);
    char *line = g_maps_buf, *end = g_maps_buf + have;
    for (;;) {
      char *nl = static_cast<char *>(std::memchr(line, '\n', std::size_t(end - line)));
      if (!nl) break;
      maps_line(line, nl, pcs, n);
      line = nl + 1;
    }
    std::size_t rest = std::size_t(end - line);
    if (r <= 0) {
      if (rest) maps_line(line, end, pcs, n);
      break;
    }
    if (rest == sizeof g_maps_buf) {   // a line longer than the buffer: cut it
      maps_line(line, end, pcs, n);
      rest = 0;
    }
    std::memmove(g_maps_buf, line, rest);
    have = rest;
  }
  os::close_fd(fd);
}

// Frames of one report, printed after one symbolisation pass.
struct StackToPrint {
  const char *title;
  std::uint32_t tid;
  void *const *frames;
  int n;
  bool exact_first = false;   // frame 0 is the faulting pc itself, not a return address
};

void print_stacks(const StackToPrint *s, int count) {
  static std::uintptr_t pcs[kMaxPcs];
  int total = 0;
  for (int k = 0; k < count; ++k)
    for (int i = 0; i < s[k].n && total < kMaxPcs; ++i) pcs[total++] = addr(s[k].frames[i]);
  symbolize(pcs, total);
  int at = 0;
  for (int k = 0; k < count; ++k) {
    LineBuf l;
    l.str("lfh:   ").str(s[k].title);
    if (s[k].tid) l.str(" by thread ").dec(s[k].tid);
    l.str(s[k].n ? ":\n" : ": (no stack recorded; LFH_BACKTRACE=0?)\n");
    emit(l);
    for (int i = 0; i < s[k].n && at < total; ++i, ++at) {
      l.clear();
      l.str("lfh:     #").dec(std::uint64_t(i)).chr(' ').hex(pcs[at]);
      // A return address points after its call: the offset printed is of the call itself (pc-1),
      // so that addr2line names the calling line.
      const std::uintptr_t back = (i == 0 && s[k].exact_first) ? 0 : 1;
      if (g_pc_module[at] >= 0) l.chr(' ').str(g_modules[g_pc_module[at]].path).str("+").hex(g_pc_offset[at] - back);
      l.chr('\n');
      emit(l);
    }
  }
}

}  // namespace

void hex_bytes(LineBuf &l, const unsigned char *from, const unsigned char *hi, std::size_t max) {
  for (std::size_t i = 0; i < max && from + i < hi; ++i) {
    unsigned v = from[i];
    l.chr(' ').chr("0123456789abcdef"[v >> 4]).chr("0123456789abcdef"[v & 15]);
  }
}

void print_report(ErrorKind kind, const LineBuf &what, const LineBuf *extra, const BlockInfo *block,
                  void *const *here, int here_n, const char *here_title, bool here_exact) {
  if (g_cfg.on_error == OnError::kIgnore) return;
  ReportLock lock;
  LineBuf l;
  l.str("lfh: ").str(error_name(kind)).chr(' ');
  emit(l);
  emit(what);
  if (extra) emit(*extra);
  StackToPrint s[3];
  int count = 0;
  if (block) {
    void *const *f;
    int n = depot_get(block->alloc_stack, &f);
    s[count++] = {"block allocated", block->alloc_tid, f, n};
    if (block->freed) {
      n = depot_get(block->free_stack, &f);
      s[count++] = {"block freed", block->free_tid, f, n};
    }
  }
  if (here_n > 0) s[count++] = {here_title, os::kernel_tid(), here, here_n, here_exact};
  print_stacks(s, count);
  l.clear();
  if (g_cfg.on_error == OnError::kReport)
    l.str("lfh:   LFH_ON_ERROR=report: the block is left alone (leaked); going on\n");
  else
    l.str("lfh:   (pid ").dec(std::uint64_t(os::pid())).str("; name a frame with: addr2line -f -i -C -e MODULE OFFSET)\n");
  emit(l);
}

void print_depot_stack(int fd, std::uint32_t id, const char *indent) {
  void *const *f;
  const int n = depot_get(id, &f);
  if (n <= 0) return;
  ReportLock lock;
  static std::uintptr_t pcs[kMaxPcs];
  int total = 0;
  for (int i = 0; i < n && total < kMaxPcs; ++i) pcs[total++] = addr(f[i]);
  symbolize(pcs, total);
  for (int i = 0; i < total; ++i) {
    LineBuf l;
    l.str(indent).chr('#').dec(std::uint64_t(i)).chr(' ').hex(pcs[i]);
    if (g_pc_module[i] >= 0) l.chr(' ').str(g_modules[g_pc_module[i]].path).str("+").hex(g_pc_offset[i] - 1);
    l.chr('\n');
    os::write_all(fd, l.data(), l.size());
  }
}

void report_fork_child() { g_report_owner.store(0, std::memory_order_relaxed); }

bool owner_verdict(const void *owner, const void *h, const void *p) {
  if (owner == h) return true;
  LineBuf l;
  l.str("lfh: heap validation failed: ").str(owner ? "block belongs to another heap" : "not a live block of any heap");
  l.str(" at ").ptr(p).chr('\n');
  os::write_all(2, l.data(), l.size());
  return false;
}

void after_report() {
  if (g_cfg.on_error == OnError::kAbort) os::abort_process();
}

__attribute__((noinline)) void report_error(ErrorKind kind, const LineBuf &what, const LineBuf *extra,
                                            const BlockInfo *block, const void *entry_cfa) {
  void *here[kMaxFrames];
  int n = g_cfg.on_error == OnError::kIgnore ? 0 : capture_stack(here, 32, entry_cfa);
  print_report(kind, what, extra, block, here, n);
  after_report();
}

}  // namespace lfh::debug
