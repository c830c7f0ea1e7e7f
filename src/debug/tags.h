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

// Initial-exec TLS, zero-initialised: no allocation, no constructor, valid before main and in
// any thread (a new thread starts untagged). Inline readers: the tag-mode fast path (tag_fast.h).
extern constinit thread_local std::uint32_t t_tag __attribute__((tls_model("initial-exec")));

// The calling thread's current tag (kNoTag when none was set).
inline std::uint32_t thread_tag() { return t_tag; }
// Sets the calling thread's tag; returns the previous one.
std::uint32_t set_thread_tag(std::uint32_t tag);

// "Json" for LFH_TAG('J','s','o','n'); bytes outside printable ASCII print as '?'.
// out has room for 5 characters (with the NUL).
void tag_text(std::uint32_t tag, char out[5]);
// The tag named by 1–4 characters (shorter names are padded with spaces, as pool tags are);
// 0 when `s` is empty or longer than 4.
std::uint32_t tag_from_text(const char *s, std::size_t len);

}  // namespace lfh::debug
