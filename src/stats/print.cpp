// stats/print.cpp — a Snapshot as a table or as JSON (see print.h).
#include "stats/print.h"

#include "base/format.h"
#include "debug/tags.h"
#include "os/os.h"

namespace lfh::stats {
namespace {

// Text written through a LineBuf, flushed before it could fill up (no line is near 1 KB).
class Out {
 public:
  explicit Out(int fd) : fd_(fd) {}
  ~Out() { flush(); }
  LineBuf &buf() {
    if (l_.size() > 1024 - 256) flush();   // LineBuf holds 1 KB; no row is near 256 bytes
    return l_;
  }
  void flush() {
    if (l_.size()) os::write_all(fd_, l_.data(), l_.size());
    l_.clear();
  }

 private:
  int fd_;
  LineBuf l_;
};

// JSON object members, with the commas.
class Json {
 public:
  explicit Json(Out &o) : o_(o) {}
  Json &begin(const char *name, char bracket) {   // "name":{ or "name":[ (name null: no key)
    sep();
    if (name) o_.buf().chr('"').str(name).str("\":");
    o_.buf().chr(bracket);
    first_ = true;
    return *this;
  }
  Json &end(char bracket) {
    o_.buf().chr(bracket);
    first_ = false;
    return *this;
  }
  Json &num(const char *name, std::uint64_t v) {
    sep();
    o_.buf().chr('"').str(name).str("\":").dec(v);
    return *this;
  }
  Json &text(const char *name, const char *v) {   // v: no character that needs escaping
    sep();
    o_.buf().chr('"').str(name).str("\":\"").str(v).chr('"');
    return *this;
  }
  Json &hex(const char *name, std::uint64_t v) {   // addresses, as "0x…" strings
    sep();
    o_.buf().chr('"').str(name).str("\":\"").hex(v).chr('"');
    return *this;
  }

 private:
  void sep() {
    if (!first_) o_.buf().chr(',');
    first_ = false;
  }
  Out &o_;
  bool first_ = false;   // the caller's object already has members
};

// A tag as JSON-safe text: tag_text gives printable ASCII; '"' and '\' become '?' too.
void tag_json_text(std::uint32_t tag, char out[5]) {
  debug::tag_text(tag, out);
  for (int i = 0; i < 4; ++i)
    if (out[i] == '"' || out[i] == '\\') out[i] = '?';
}

const char *kind_name(std::uint32_t kind) {
  switch (kind) {
    case live::kRegionLfhSubsegment: return "lfh";
    case live::kRegionLfhReserve: return "lfh_reserve";
    case live::kRegionCoreSegment: return "core";
    case live::kRegionDirectBlock: return "direct";
    default: return "unknown";
  }
}

void heap_json(Json &j, const live::HeapRow &h) {
  j.begin(nullptr, '{');
  j.num("index", h.index).num("flags", h.flags).hex("address", h.address);
  j.num("reserved_bytes", h.reserved_bytes).num("committed_bytes", h.committed_bytes);
  j.num("lfh_allocs", h.lfh_allocs).num("lfh_frees", h.lfh_frees).num("lfh_blocks_in_use", h.lfh_blocks_in_use);
  j.num("lfh_bytes_in_use", h.lfh_bytes_in_use).num("lfh_blocks_free", h.lfh_blocks_free);
  j.num("lfh_subsegments", h.lfh_subsegments).num("lfh_lookaside_hits", h.lfh_lookaside_hits);
  j.num("lfh_lookaside_misses", h.lfh_lookaside_misses);
  j.num("core_allocs", h.core_allocs).num("core_frees", h.core_frees).num("core_blocks", h.core_blocks);
  j.num("core_busy_bytes", h.core_busy_bytes).num("core_segments", h.core_segments);
  j.num("core_reserved_bytes", h.core_reserved_bytes).num("core_committed_bytes", h.core_committed_bytes);
  j.num("direct_allocs", h.direct_allocs).num("direct_frees", h.direct_frees).num("direct_blocks", h.direct_blocks);
  j.num("direct_reserved_bytes", h.direct_reserved_bytes).num("direct_committed_bytes", h.direct_committed_bytes);
  j.num("locked", h.locked);
  j.end('}');
}

}  // namespace

void print_snapshot_json(int fd, const live::Snapshot &s, bool regions) {
  Out o(fd);
  Json j(o);
  const live::Totals &t = s.totals;
  j.text("format", "lfh-stats");
  j.begin("totals", '{');
  j.num("reserved_bytes", t.reserved_bytes).num("committed_bytes", t.committed_bytes);
  j.num("peak_committed_bytes", t.peak_committed_bytes).num("commit_limit", t.commit_limit);
  j.num("decommitted_bytes", t.decommitted_bytes).num("rss_bytes", t.rss_bytes).num("peak_rss_bytes", t.peak_rss_bytes);
  j.num("heaps", t.heaps);
  j.num("lfh_allocs", t.lfh_allocs).num("lfh_frees", t.lfh_frees).num("lfh_blocks_in_use", t.lfh_blocks_in_use);
  j.num("lfh_bytes_in_use", t.lfh_bytes_in_use).num("lfh_blocks_free", t.lfh_blocks_free);
  j.num("lfh_subsegments", t.lfh_subsegments).num("lfh_lookaside_hits", t.lfh_lookaside_hits);
  j.num("lfh_lookaside_misses", t.lfh_lookaside_misses);
  j.num("core_allocs", t.core_allocs).num("core_frees", t.core_frees).num("core_blocks", t.core_blocks);
  j.num("core_busy_bytes", t.core_busy_bytes).num("core_segments", t.core_segments);
  j.num("core_committed_bytes", t.core_committed_bytes);
  j.num("direct_allocs", t.direct_allocs).num("direct_frees", t.direct_frees).num("direct_blocks", t.direct_blocks);
  j.num("direct_committed_bytes", t.direct_committed_bytes);
  j.num("pageheap_blocks", t.pageheap_blocks).num("pageheap_bytes", t.pageheap_bytes);
  j.end('}');
  j.begin("heaps", '[');
  for (std::uint32_t i = 0; i < s.header.heaps; ++i) heap_json(j, s.heaps[i]);
  j.end(']');
  j.num("heaps_omitted", s.header.heaps_omitted);
  j.begin("buckets", '[');
  for (std::uint32_t i = 0; i < s.header.buckets; ++i) {
    const live::BucketRow &b = s.buckets[i];
    j.begin(nullptr, '{');
    j.num("heap", b.heap).num("bucket", b.bucket).num("block_size", b.block_size);
    j.num("allocs", b.allocs).num("frees", b.frees).num("blocks_in_use", b.blocks_in_use);
    j.num("bytes_in_use", b.blocks_in_use * b.block_size).num("blocks_free", b.blocks_free);
    j.num("blocks_cached", b.blocks_cached).num("subsegments", b.subsegments);
    j.num("lookaside_hits", b.lookaside_hits).num("lookaside_misses", b.lookaside_misses);
    j.num("lookaside_depth", b.lookaside_depth);
    j.end('}');
  }
  j.end(']');
  j.num("buckets_omitted", s.header.buckets_omitted);
  j.num("tags_on", s.header.tags_on);
  j.begin("tags", '[');
  for (std::uint32_t i = 0; i < s.header.tags; ++i) {
    const live::TagRow &r = s.tags[i];
    char text[5];
    tag_json_text(r.tag, text);
    j.begin(nullptr, '{');
    j.text("tag", text).num("tag_value", r.tag).num("allocs", r.allocs).num("frees", r.frees);
    j.num("blocks", r.blocks).num("bytes", r.bytes).num("peak_bytes", r.peak_bytes);
    j.end('}');
  }
  j.end(']');
  j.num("tags_omitted", s.header.tags_omitted);
  if (regions) {
    j.num("resident_known", s.header.resident_known);
    j.begin("regions", '[');
    for (std::uint32_t i = 0; i < s.header.regions; ++i) {
      const live::RegionRow &r = s.regions[i];
      j.begin(nullptr, '{');
      j.text("kind", kind_name(r.kind)).hex("address", r.address).num("size", r.size);
      j.num("committed", r.committed).num("resident", r.resident).num("used_bytes", r.used_bytes);
      j.num("heap", r.heap).num("bucket", r.bucket).num("block_size", r.block_size);
      j.num("blocks_total", r.blocks_total).num("blocks_used", r.blocks_used);
      j.end('}');
    }
    j.end(']');
    j.num("regions_omitted", s.header.regions_omitted);
  }
}

namespace {

void pad_to(LineBuf &l, std::size_t start, std::size_t col) {
  while (l.size() - start < col) l.chr(' ');
}

// A right-aligned human size in `width` columns.
void size_w(LineBuf &l, std::uint64_t v, std::size_t width) {
  LineBuf t;
  t.size(v);
  for (std::size_t i = t.size(); i < width; ++i) l.chr(' ');
  for (std::size_t i = 0; i < t.size(); ++i) l.chr(t.data()[i]);
}

void tier_row(Out &o, const char *name, std::uint64_t blocks, std::uint64_t bytes, std::uint64_t committed) {
  LineBuf &l = o.buf();
  const std::size_t start = l.size();
  l.str("lfh:   ").str(name);
  pad_to(l, start, 20);
  l.dec_w(blocks, 12);
  size_w(l, bytes, 12);
  size_w(l, committed, 12);
  l.chr('\n');
}

}  // namespace

void print_snapshot_table(int fd, const live::Snapshot &s, bool all_buckets) {
  Out o(fd);
  const live::Totals &t = s.totals;
  o.buf().str("lfh: tiers (all heaps)          blocks      in use   committed\n");
  std::uint64_t lfh_committed = 0;   // per heap: what is not core or direct is the LFH arena's
  for (std::uint32_t i = 0; i < s.header.heaps; ++i) {
    const live::HeapRow &h = s.heaps[i];
    lfh_committed += h.committed_bytes - h.core_committed_bytes - h.direct_committed_bytes;
  }
  tier_row(o, "LFH (<= 16 KB)", t.lfh_blocks_in_use, t.lfh_bytes_in_use, lfh_committed);
  tier_row(o, "core", t.core_blocks, t.core_busy_bytes, t.core_committed_bytes);
  tier_row(o, "direct", t.direct_blocks, 0, t.direct_committed_bytes);
  if (t.pageheap_blocks) tier_row(o, "page heap", t.pageheap_blocks, t.pageheap_bytes, 0);
  o.buf().str("lfh:   rss ").size(t.rss_bytes).str(", peak rss ").size(t.peak_rss_bytes).chr('\n');
  o.buf().str("lfh: heaps   #  flags   reserved  committed  small-in-use  small-bytes  large-blocks\n");
  for (std::uint32_t i = 0; i < s.header.heaps; ++i) {
    const live::HeapRow &h = s.heaps[i];
    LineBuf &l = o.buf();
    l.str("lfh:      ").dec_w(h.index, 4).str("  ");
    l.hex(h.flags);
    size_w(l, h.reserved_bytes, 11);
    size_w(l, h.committed_bytes, 11);
    l.dec_w(h.lfh_blocks_in_use, 14);
    size_w(l, h.lfh_bytes_in_use, 13);
    l.dec_w(h.core_blocks + h.direct_blocks, 14);
    l.str(h.index == 0 ? "  (process heap)" : "").str(h.locked ? "  (held with lfh_heap_lock: not read)\n" : "\n");
  }
  // Buckets, largest bytes in use first: a selection by repeated scans (no sort buffer; the table
  // is short).
  const std::uint32_t n = s.header.buckets;
  const std::uint32_t show = all_buckets ? n : (n < 16 ? n : 16);
  o.buf().str("lfh: buckets ").str(all_buckets || show == n ? "(all in use)" : "(16 largest)")
      .str("  heap  size    in use     bytes      free  subsegs   la-hits  la-miss  depth\n");
  std::uint64_t last_bytes = ~std::uint64_t(0);
  std::uint32_t last_index = 0;
  for (std::uint32_t k = 0; k < show; ++k) {
    // The next row in (bytes desc, index asc) order after (last_bytes, last_index).
    std::uint32_t best = n;
    std::uint64_t best_bytes = 0;
    for (std::uint32_t i = 0; i < n; ++i) {
      const std::uint64_t b = s.buckets[i].blocks_in_use * s.buckets[i].block_size;
      const bool after = b < last_bytes || (b == last_bytes && i > last_index && k > 0);
      if (!after) continue;
      if (best == n || b > best_bytes || (b == best_bytes && i < best)) {
        best = i;
        best_bytes = b;
      }
    }
    if (best == n) break;
    last_bytes = best_bytes;
    last_index = best;
    const live::BucketRow &r = s.buckets[best];
    LineBuf &l = o.buf();
    l.str("lfh:                         ").dec_w(r.heap, 5).dec_w(r.block_size, 6);
    l.dec_w(r.blocks_in_use, 10);
    size_w(l, best_bytes, 10);
    l.dec_w(r.blocks_free, 10).dec_w(r.subsegments, 9).dec_w(r.lookaside_hits, 10);
    l.dec_w(r.lookaside_misses, 9).dec_w(r.lookaside_depth, 7).chr('\n');
  }
  if (!s.header.tags_on) {
    o.buf().str("lfh: tags: off (LFH_TAGS=1 counts allocations per pool tag)\n");
    return;
  }
  o.buf().str("lfh: tags    tag      allocs       frees     blocks       bytes        peak\n");
  for (std::uint32_t i = 0; i < s.header.tags; ++i) {
    const live::TagRow &r = s.tags[i];
    char text[5];
    debug::tag_text(r.tag, text);
    LineBuf &l = o.buf();
    l.str("lfh:          ").str(text).dec_w(r.allocs, 12).dec_w(r.frees, 12).dec_w(r.blocks, 11);
    size_w(l, r.bytes, 12);
    size_w(l, r.peak_bytes, 12);
    l.chr('\n');
  }
  if (s.header.tags_omitted) o.buf().str("lfh:          (").dec(s.header.tags_omitted).str(" more tags)\n");
}

}  // namespace lfh::stats
