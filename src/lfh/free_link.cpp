#include "lfh/free_link.h"

namespace lfh {
// Replaced by a random value at initialisation, before the first block is handed out; never
// changed afterwards (every free block's link depends on it).
constinit std::uintptr_t g_link_key = 0x9e3779b97f4a7c15ull;
}  // namespace lfh
