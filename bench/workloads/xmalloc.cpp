// xmalloc — producer/consumer cross-thread freeing (the xmalloc-test pattern).
//
// --threads N runs N producer threads and N consumer threads (2N in all). Producers allocate
// batches of 128 blocks of 16..512 bytes (log-uniform: mostly small), stamp each block and push
// the batch onto a shared bounded queue (64 batches); consumers pop batches, check every block and
// free it. Every block is therefore freed by a thread other than the one that allocated it, while
// allocation goes on. The total number of blocks is fixed and split over the producers.
// Check: each block's stamp, and the number and total size of blocks freed must equal what was
// allocated (the producers' random sequences are replayed without allocating).
#include <condition_variable>
#include <deque>
#include <mutex>

#include "common.h"

namespace {

constexpr std::size_t kBatch = 128;
constexpr std::size_t kQueueMax = 64;

struct Block {
  void *p;
  std::uint32_t size;
  std::uint64_t tag;
};
using Batch = std::vector<Block>;

class Queue {
 public:
  void push(Batch &&b) {
    std::unique_lock<std::mutex> lk(m_);
    not_full_.wait(lk, [&] { return q_.size() < kQueueMax; });
    q_.push_back(std::move(b));
    not_empty_.notify_one();
  }
  // false when all producers are done and the queue is empty
  bool pop(Batch &out) {
    std::unique_lock<std::mutex> lk(m_);
    not_empty_.wait(lk, [&] { return !q_.empty() || producers_left_ == 0; });
    if (q_.empty()) return false;
    out = std::move(q_.front());
    q_.pop_front();
    not_full_.notify_one();
    return true;
  }
  void set_producers(int n) { producers_left_ = n; }
  void producer_done() {
    std::lock_guard<std::mutex> lk(m_);
    if (--producers_left_ == 0) not_empty_.notify_all();
  }

 private:
  std::mutex m_;
  std::condition_variable not_full_, not_empty_;
  std::deque<Batch> q_;
  int producers_left_ = 0;
};

}  // namespace

int main(int argc, char **argv) {
  wl::Options o = wl::parse_options(argc, argv);
  const std::uint64_t total_batches = o.work(80'000);
  wl::Check check;
  Queue q;
  q.set_producers(o.threads);
  std::atomic<std::uint64_t> freed_blocks{0}, freed_bytes{0};

  wl::Timer timer;
  wl::run_threads(2 * o.threads, [&](int i) {
    if (i < o.threads) {  // producer
      wl::Rng rng(o.seed + static_cast<std::uint64_t>(i));
      std::uint64_t serial = 0;
      for (std::uint64_t n = wl::share(total_batches, o.threads, i); n > 0; --n) {
        Batch b;
        b.reserve(kBatch);
        for (std::size_t k = 0; k < kBatch; ++k) {
          auto size = static_cast<std::uint32_t>(rng.log_range(16, 512));
          std::uint64_t tag = wl::mix(static_cast<std::uint64_t>(i), ++serial);
          void *p = std::malloc(size);
          if (!p) std::abort();
          wl::stamp(p, size, tag);
          b.push_back({p, size, tag});
        }
        q.push(std::move(b));
      }
      q.producer_done();
    } else {  // consumer
      Batch b;
      std::uint64_t blocks = 0, bytes = 0;
      while (q.pop(b)) {
        for (auto &blk : b) {
          if (!wl::stamp_ok(blk.p, blk.size, blk.tag)) check.fail("block %p (%u bytes) overwritten", blk.p, blk.size);
          bytes += blk.size;
          std::free(blk.p);
        }
        blocks += b.size();
        b = Batch();
      }
      freed_blocks += blocks;
      freed_bytes += bytes;
    }
  });
  double secs = timer.seconds();

  std::uint64_t want_bytes = 0;
  for (int i = 0; i < o.threads; ++i) {
    wl::Rng rng(o.seed + static_cast<std::uint64_t>(i));
    for (std::uint64_t n = wl::share(total_batches, o.threads, i) * kBatch; n > 0; --n) want_bytes += rng.log_range(16, 512);
  }
  if (freed_blocks != total_batches * kBatch || freed_bytes != want_bytes)
    check.fail("freed %" PRIu64 " blocks / %" PRIu64 " bytes, expected %" PRIu64 " / %" PRIu64,
               freed_blocks.load(), freed_bytes.load(), total_batches * kBatch, want_bytes);
  std::uint64_t blocks = total_batches * kBatch;
  return wl::report("xmalloc", o, secs, check,
                    wl::kv("blocks", blocks) + wl::kv("blocks_per_sec", static_cast<double>(blocks) / secs));
}
