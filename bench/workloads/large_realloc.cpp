// large_realloc — large blocks, 64 KB to 4 MB, growing with realloc.
//
// Each thread keeps 6 buffers. Each step picks one at random: an empty one is allocated with 64 KB
// to 1 MB (log-uniform) and written (one word per 4 KB page, so every page is touched); a live one
// is grown by realloc to 1.25–2× its size and the new pages are written — or, one time in eight,
// shrunk to half — and a buffer that would grow past 4 MB is freed instead. This is the pattern of
// growing buffers, string builders and vectors of big objects: what matters is whether realloc
// grows in place or remaps instead of copying, and whether freed large blocks are cached or
// unmapped and faulted in again. The number of steps is fixed and split over the threads.
// Check: after every realloc, every page that was kept must still hold its word.
#include "common.h"

namespace {

constexpr std::size_t kPage = 4096;
constexpr std::size_t kBuffers = 6;
constexpr std::size_t kMinSize = 64 << 10, kFirstMax = 1 << 20, kMaxSize = 4 << 20;

struct Buffer {
  unsigned char *p = nullptr;
  std::size_t size = 0;
  std::uint64_t id = 0;
};

inline std::uint64_t word(std::uint64_t id, std::size_t page) { return wl::mix(id, page); }

// Writes the word of every page not written yet: those that did not fit in the first `from`
// bytes (a page's word is at its start and needs 8 bytes).
void write_pages(Buffer &b, std::size_t from) {
  for (std::size_t off = from < 8 ? 0 : ((from - 8) / kPage + 1) * kPage; off + 8 <= b.size; off += kPage) {
    std::uint64_t w = word(b.id, off / kPage);
    std::memcpy(b.p + off, &w, 8);
  }
}
bool check_pages(const Buffer &b, std::size_t upto) {
  for (std::size_t off = 0; off + 8 <= upto; off += kPage) {
    std::uint64_t w;
    std::memcpy(&w, b.p + off, 8);
    if (w != word(b.id, off / kPage)) return false;
  }
  return true;
}

}  // namespace

int main(int argc, char **argv) {
  wl::Options o = wl::parse_options(argc, argv);
  const std::uint64_t total_steps = o.work(10'000);
  wl::Check check;
  std::atomic<std::uint64_t> reallocs{0}, bytes_touched{0};

  wl::Timer timer;
  wl::run_threads(o.threads, [&](int t) {
    wl::Rng rng(o.seed + static_cast<std::uint64_t>(t));
    Buffer buf[kBuffers];
    std::uint64_t next_id = static_cast<std::uint64_t>(t) << 40, n_realloc = 0, touched = 0;
    for (std::uint64_t s = wl::share(total_steps, o.threads, t); s > 0; --s) {
      Buffer &b = buf[rng.below(kBuffers)];
      if (!b.p) {
        b.size = rng.log_range(kMinSize, kFirstMax);
        b.p = static_cast<unsigned char *>(std::malloc(b.size));
        if (!b.p) std::abort();
        b.id = ++next_id;
        write_pages(b, 0);
        touched += b.size;
        continue;
      }
      std::size_t new_size;
      if (rng.below(8) == 0) {
        new_size = b.size / 2;
      } else {
        new_size = b.size + b.size * (4 + rng.below(13)) / 16;  // 1.25x .. 2x
        if (new_size > kMaxSize) {
          if (!check_pages(b, b.size)) check.fail("buffer %p (%zu bytes) overwritten", static_cast<void *>(b.p), b.size);
          std::free(b.p);
          b = Buffer();
          continue;
        }
      }
      std::size_t old_size = b.size;
      auto *np = static_cast<unsigned char *>(std::realloc(b.p, new_size));
      if (!np) std::abort();
      b.p = np;
      b.size = new_size;
      ++n_realloc;
      if (!check_pages(b, std::min(old_size, new_size)))
        check.fail("realloc %zu -> %zu lost the contents", old_size, new_size);
      if (new_size > old_size) {
        write_pages(b, old_size);
        touched += new_size - old_size;
      }
    }
    for (auto &b : buf) {
      if (b.p && !check_pages(b, b.size)) check.fail("buffer overwritten");
      std::free(b.p);
    }
    reallocs += n_realloc;
    bytes_touched += touched;
  });
  double secs = timer.seconds();
  return wl::report("large-realloc", o, secs, check,
                    wl::kv("steps", total_steps) + wl::kv("reallocs", reallocs.load()) +
                        wl::kv("mb_touched", static_cast<double>(bytes_touched.load()) / 1048576.0));
}
