#include "lfh/subsegment.h"

namespace lfh {

namespace {
constinit vm::MetaPool g_descriptors(sizeof(Subsegment));
}

vm::MetaPool &subsegment_pool() { return g_descriptors; }

}  // namespace lfh
