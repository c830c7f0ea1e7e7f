// debug/tags.h — pool tags: 4 characters packed into a uint32_t (LFH_TAG in lfh.h; the first
// character in the low byte, so the tag reads in order in a memory dump, as Windows pool tags do).
//
// Every thread carries a current tag (lfh_set_thread_tag, lfh::tag_scope); each allocation the
// thread makes carries it. Tag 0 means "none": the allocation is attributed by its call site.
// Reading and setting the tag is one initial-exec TLS access: it costs nothing when tag
// accounting (LFH_TAGS) is off, and it is what fault injection (LFH_FAULT_TAGS) matches.
#pragma once
#include <cstddef>
#include <cstdint>

namespace lfh::debug {

inline constexpr std::uint32_t kNoTag = 0;

struct TagShard;   // tag_shard.h

// One call site's module tag (tag_fast.h): `ra` is a return address into the program, `off`
// its tag's counter: slot * sizeof(TagCounter) (the fast path adds it to the shard, no multiply).
// ra 0: empty.
struct SiteEntry {
  std::uintptr_t ra;
  std::uint32_t tag, off;
};
inline constexpr unsigned kSiteEntries = 64;   // direct-mapped by the return address's low bits

// Everything tag mode keeps per thread, in one initial-exec TLS object (one TLS address for the
// fast path): the thread's tag, its counter shard (tag_shard.h), the last tag's counter offset (a thread allocates and frees under few
// tags at a time), and the call-site cache of untagged allocations. The caches hold process-wide
// facts (slots are never given back, a return address outside lfh stays in its module), so they
// stay valid across fork and need no reset.
struct TagThread {
  SiteEntry sites[kSiteEntries];   // first: indexed from the TLS address with no offset
  TagShard *shard;
  std::uint32_t tag;        // the thread's current tag (kNoTag: none)
  std::uint32_t last_off;   // the counter of last_tag
  // The thread tag tag_fast.h last allocated under, and its counter: filled by alloc_site only
  // (tag mode's fast allocation on), so that fast_alloc needs no test of the mode (0: none).
  std::uint32_t alloc_tag, alloc_off;
  // The last tag counted (0: none), as a record's first 8 bytes with site 0 read as one word on
  // a little-endian machine (tag_fast.h compares tag and site in one instruction).
  std::uint64_t last_tag;
};
extern constinit thread_local TagThread t_tag_thread __attribute__((tls_model("initial-exec")));
// Initial-exec TLS, zero-initialised: no allocation, no constructor, valid before main and in
// any thread (a new thread starts untagged, with no shard and empty caches).
extern constinit thread_local TagThread t_tag_thread __attribute__((tls_model("initial-exec")));

// The calling thread's current tag (kNoTag when none was set).
inline std::uint32_t thread_tag() { return t_tag_thread.tag; }
// Sets the calling thread's tag; returns the previous one.
std::uint32_t set_thread_tag(std::uint32_t tag);

// "Json" for LFH_TAG('J','s','o','n'); bytes outside printable ASCII print as '?'.
// out has room for 5 characters (with the NUL).
void tag_text(std::uint32_t tag, char out[5]);
// The tag named by 1–4 characters (shorter names are padded with spaces, as pool tags are);
// 0 when `s` is empty or longer than 4.
std::uint32_t tag_from_text(const char *s, std::size_t len);

}  // namespace lfh::debug
