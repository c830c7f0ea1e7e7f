// debug/leaks.cpp — leak reports (see leaks.h).
#include "debug/leaks.h"

#include <atomic>
#include <cstring>

#include "base/bits.h"
#include "base/format.h"
#include "debug/report.h"
#include "debug/tag_shard.h"
#include "debug/tag_table.h"
#include "debug/tagged.h"
#include "debug/tags.h"
#include "heap/heap.h"
#include "os/mutex.h"
#include "os/os.h"
#include "vm/vm.h"

namespace lfh::debug {
namespace {

constexpr std::size_t kSites = std::size_t(1) << 14;
constexpr int kSiteProbes = 64;
constexpr int kTopSites = 10;

struct Site {
  std::atomic<std::uint64_t> key;   // stack id << 32 | tag; 0 empty (stack ids are never 0)
  std::atomic<std::int64_t> blocks, bytes;
};
constinit Site *g_sites = nullptr;
constinit Site g_site_overflow = {};   // sites that found no room (key stays 0)

constinit os::Mutex g_leak_lock;   // one report at a time (their buffers are static)
constinit int g_fd = -1;           // where reports go (-1: not opened yet)
constinit char g_path[512] = {};   // LFH_LEAKS=path, %p expanded ("" for stderr)

TagRow g_rows[kTagSlots];

struct Agg {
  std::uint32_t tag, site;
  std::uint64_t blocks, bytes;
};
constexpr int kAgg = 256;
Agg g_agg_tags[kAgg], g_agg_sites[kAgg];
int g_n_tags, g_n_sites;
Agg g_top[kTopSites];

int out_fd() {
  if (g_fd >= 0) return g_fd;
  g_fd = 2;
  if (g_path[0]) {
    const int fd = os::open_for_write(g_path);
    if (fd >= 0) g_fd = fd;
  }
  return g_fd;
}

void emit(int fd, const LineBuf &l) { os::write_all(fd, l.data(), l.size()); }

LineBuf &tag_cell(LineBuf &l, std::uint32_t tag) {
  char t[5];
  tag_text(tag, t);
  return l.str(t);
}

LineBuf &bytes_cell(LineBuf &l, std::uint64_t n) { return l.dec(n).str(n == 1 ? " byte" : " bytes"); }

void header(int fd, const char *what, std::uint64_t blocks, std::uint64_t bytes, std::size_t tags) {
  LineBuf l;
  l.str("lfh: ").str(what).str(": ");
  if (blocks == 0) {
    emit(fd, l.str("no blocks left allocated\n"));
    return;
  }
  l.dec(blocks).str(blocks == 1 ? " block, " : " blocks, ");
  bytes_cell(l, bytes).str(" (").size(bytes).str(") not freed, under ").dec(tags).str(tags == 1 ? " tag\n" : " tags\n");
  emit(fd, l);
  l.clear();
  l.str("lfh:   (everything not freed is listed, memory still reachable from globals included: lfh does not\n");
  l.str("lfh:   scan for reachability; ranked by bytes)\n");
  emit(fd, l);
}

// Insert a into top[0..*n) (largest bytes first, at most kTopSites).
void keep_top(Agg *top, int *n, const Agg &a) {
  int at = *n;
  while (at > 0 && top[at - 1].bytes < a.bytes) --at;
  if (at >= kTopSites) return;
  const int last = *n < kTopSites ? *n : kTopSites - 1;
  for (int k = last; k > at; --k) top[k] = top[k - 1];
  top[at] = a;
  if (*n < kTopSites) ++*n;
}

void print_sites(int fd, const Agg *top, int n, const char *title) {
  if (n == 0) return;
  LineBuf l;
  l.str("lfh: ").str(title).str(":\n");
  emit(fd, l);
  for (int i = 0; i < n; ++i) {
    l.clear();
    l.str("lfh:   ");
    tag_cell(l, top[i].tag).str(": ").dec(top[i].blocks).str(top[i].blocks == 1 ? " block, " : " blocks, ");
    bytes_cell(l, top[i].bytes).str(", allocated at:\n");
    emit(fd, l);
    print_depot_stack(fd, top[i].site, "lfh:     ");
  }
}

Agg *agg_of(Agg *a, int *n, std::uint32_t tag, std::uint32_t site) {
  for (int i = 0; i < *n; ++i)
    if (a[i].tag == tag && a[i].site == site) return &a[i];
  if (*n == kAgg) return nullptr;
  a[*n] = {tag, site, 0, 0};
  return &a[(*n)++];
}

}  // namespace

bool leaks_init(const char *where) {
  if (!(where[0] == '1' && where[1] == 0)) {
    std::size_t n = 0;
    for (const char *c = where; *c && n < sizeof g_path - 24; ++c) {
      if (c[0] == '%' && c[1] == 'p') {
        LineBuf pid;
        pid.dec(std::uint64_t(os::pid()));
        for (std::size_t i = 0; i < pid.size(); ++i) g_path[n++] = pid.data()[i];
        ++c;
      } else {
        g_path[n++] = *c;
      }
    }
    g_path[n] = 0;
  }
  g_sites = static_cast<Site *>(vm::reserve_committed(align_up(kSites * sizeof(Site), os::kGranularity)));
  return g_sites != nullptr;
}

void site_count(std::uint32_t stack, std::uint32_t tag, std::int64_t blocks, std::int64_t bytes) {
  if (!g_sites) return;
  const std::uint64_t key = std::uint64_t(stack) << 32 | tag;
  std::size_t i = std::size_t((key * 0x9e3779b97f4a7c15ull) >> 40) & (kSites - 1);
  Site *s = &g_site_overflow;
  for (int probe = 0; probe < kSiteProbes; ++probe, i = (i + 1) & (kSites - 1)) {
    std::uint64_t k = g_sites[i].key.load(std::memory_order_acquire);
    if (k == 0 && (g_sites[i].key.compare_exchange_strong(k, key, std::memory_order_acq_rel) || k == key)) {
      s = &g_sites[i];
      break;
    }
    if (k == key) {
      s = &g_sites[i];
      break;
    }
  }
  if (blocks) s->blocks.fetch_add(blocks, std::memory_order_relaxed);
  if (bytes) s->bytes.fetch_add(bytes, std::memory_order_relaxed);
}

std::size_t leak_report(int fd) {
  if (!tags_on()) return 0;
  os::LockGuard g(g_leak_lock);
  if (fd < 0) fd = out_fd();
  const std::size_t tracked = tag_rows(g_rows, kTagSlots);
  const std::size_t n = tracked < kTagSlots ? tracked : kTagSlots;
  std::uint64_t blocks = 0, bytes = 0;
  std::size_t tags = 0;
  for (std::size_t i = 0; i < n; ++i)
    if (g_rows[i].blocks) {
      blocks += g_rows[i].blocks;
      bytes += g_rows[i].bytes;
      ++tags;
    }
  LineBuf l;
  l.str("leak report (pid ").dec(std::uint64_t(os::pid())).chr(')');
  char title[64];
  std::memcpy(title, l.data(), l.size());
  title[l.size()] = 0;
  header(fd, title, blocks, bytes, tags);
  if (!blocks) return 0;
  l.clear();
  emit(fd, l.str("lfh:   tag       blocks           bytes      allocs       frees     peak bytes\n"));
  for (std::size_t i = 0; i < n; ++i) {
    const TagRow &r = g_rows[i];
    if (!r.blocks) continue;
    l.clear();
    l.str("lfh:   ");
    tag_cell(l, r.tag).dec_w(r.blocks, 11).dec_w(r.bytes, 16).dec_w(r.allocs, 12).dec_w(r.frees, 12).dec_w(r.peak_bytes, 15).chr('\n');
    emit(fd, l);
  }
  if (!g_sites) {
    l.clear();
    emit(fd, l.str("lfh:   (allocating stacks: run with LFH_LEAKS=1)\n"));
    return std::size_t(bytes);
  }
  int top_n = 0;
  for (std::size_t i = 0; i < kSites; ++i) {
    const std::uint64_t k = g_sites[i].key.load(std::memory_order_acquire);
    const std::int64_t b = g_sites[i].blocks.load(std::memory_order_relaxed);
    const std::int64_t y = g_sites[i].bytes.load(std::memory_order_relaxed);
    if (k == 0 || b <= 0) continue;
    keep_top(g_top, &top_n, Agg{std::uint32_t(k), std::uint32_t(k >> 32), std::uint64_t(b), y > 0 ? std::uint64_t(y) : 0});
  }
  print_sites(fd, g_top, top_n, "top leak sites (allocating stacks; name a frame with addr2line -f -i -C -e MODULE OFFSET)");
  return std::size_t(bytes);
}

void leaks_heap_destroy(Heap &h) {
  os::LockGuard g(g_leak_lock);
  g_n_tags = g_n_sites = 0;
  std::uint64_t blocks = 0, bytes = 0;
  struct Ctx {
    std::uint64_t *blocks, *bytes;
  } ctx{&blocks, &bytes};
  // Every live tagged block of h: counted freed (its memory goes with the heap) and gathered.
  h.walk(
      [](const Heap::WalkEntry &e, void *arg) -> int {
        auto *c = static_cast<Ctx *>(arg);
        std::uint32_t tag, site;
        std::uint64_t size;
        if (!e.in_use || !tg::block_record(e.address, e.size, &tag, &site, &size)) return 1;
        tag_count_free(tag_slot(tag), size);
        if (site) site_count(site, tag, -1, -std::int64_t(size));
        ++*c->blocks;
        *c->bytes += size;
        if (Agg *a = agg_of(g_agg_tags, &g_n_tags, tag, 0)) {
          ++a->blocks;
          a->bytes += size;
        }
        if (Agg *a = agg_of(g_agg_sites, &g_n_sites, tag, site)) {
          ++a->blocks;
          a->bytes += size;
        }
        return 1;
      },
      &ctx);
  if (!tg::g_leaks || blocks == 0) return;
  const int fd = out_fd();
  LineBuf l;
  l.str("leak report for heap ").ptr(&h).str(" (lfh_heap_destroy)");
  char title[96];
  std::memcpy(title, l.data(), l.size());
  title[l.size()] = 0;
  header(fd, title, blocks, bytes, std::size_t(g_n_tags));
  // Tags by bytes.
  for (int i = 1; i < g_n_tags; ++i)
    for (int k = i; k > 0 && g_agg_tags[k - 1].bytes < g_agg_tags[k].bytes; --k) {
      const Agg t = g_agg_tags[k];
      g_agg_tags[k] = g_agg_tags[k - 1];
      g_agg_tags[k - 1] = t;
    }
  l.clear();
  emit(fd, l.str("lfh:   tag       blocks           bytes\n"));
  for (int i = 0; i < g_n_tags; ++i) {
    l.clear();
    l.str("lfh:   ");
    tag_cell(l, g_agg_tags[i].tag).dec_w(g_agg_tags[i].blocks, 11).dec_w(g_agg_tags[i].bytes, 16).chr('\n');
    emit(fd, l);
  }
  int top_n = 0;
  for (int i = 0; i < g_n_sites; ++i)
    if (g_agg_sites[i].site) keep_top(g_top, &top_n, g_agg_sites[i]);
  print_sites(fd, g_top, top_n, "top leak sites of the heap");
}

void leaks_fork_prepare() { g_leak_lock.lock(); }
void leaks_fork_parent() { g_leak_lock.unlock(); }
void leaks_fork_child() { g_leak_lock.reset_after_fork(); }

namespace {
// At exit (a destructor: after main returned and the atexit handlers and C++ static destructors
// registered before it ran), report what is still allocated.
__attribute__((destructor)) void leaks_at_exit() {
  if (tg::g_leaks) leak_report(-1);
}
}  // namespace

}  // namespace lfh::debug
