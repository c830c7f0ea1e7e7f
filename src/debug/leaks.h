// debug/leaks.h — leak reports (LFH_LEAKS): what is still allocated, by tag and by allocating
// stack ("site"), at exit, on demand (lfh_leak_report) and when a private heap is destroyed.
//
// Sites. With LFH_LEAKS every tagged block's record carries the depot id of its allocating stack
// (stack.h), and a fixed open-addressed table counts blocks and bytes per (stack, tag) with
// relaxed atomic adds (leak mode is a hunting mode: the stack capture costs far more). A report
// ranks tags (tag_table.h) and sites by bytes and prints the top sites' stacks, module+offset.
// It lists everything not freed, memory still reachable from globals included: lfh does not
// scan for reachability, and says so.
#pragma once
#include <cstddef>
#include <cstdint>

namespace lfh {
class Heap;
}

namespace lfh::debug {

// `where`: "1" (stderr) or a path ("%p" becomes the pid). False when the site table cannot be had.
bool leaks_init(const char *where);
void site_count(std::uint32_t stack, std::uint32_t tag, std::int64_t blocks, std::int64_t bytes);
// The process-wide report to fd; returns the bytes still allocated (0 when tag mode is off).
std::size_t leak_report(int fd);
// Before heap h is destroyed: count its blocks freed and (LFH_LEAKS) report them.
void leaks_heap_destroy(Heap &h);

void leaks_fork_prepare();
void leaks_fork_parent();
void leaks_fork_child();

}  // namespace lfh::debug
