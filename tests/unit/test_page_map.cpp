// vm/page_map: address → owner for every 64 KB granule.
#include <catch2/catch.hpp>

#include <cstdint>

#include "vm/page_map.h"
#include "vm/vm.h"

using namespace lfh;

namespace {

constexpr std::size_t kGran = vm::kGranularity;

char *at(std::uintptr_t a) { return reinterpret_cast<char *>(a); }

}  // namespace

TEST_CASE("a registered range maps to its owner from first byte to last and nothing else") {
  REQUIRE(vm::pagemap_init());
  // Five granules of our own; the middle three are registered, the outer two are neighbours.
  char *region = static_cast<char *>(vm::reserve(5 * kGran));
  REQUIRE(region != nullptr);
  char *base = region + kGran;
  const std::size_t size = 3 * kGran;
  vm::OwnerHeader owner{vm::OwnerKind::kDirectBlock, 0};

  CHECK(vm::pagemap_lookup(base) == nullptr);
  REQUIRE(vm::pagemap_set(base, size, &owner));
  CHECK(vm::pagemap_lookup(base) == &owner);
  CHECK(vm::pagemap_lookup(base + 1) == &owner);
  CHECK(vm::pagemap_lookup(base + kGran) == &owner);
  CHECK(vm::pagemap_lookup(base + size / 2) == &owner);
  CHECK(vm::pagemap_lookup(base + size - 1) == &owner);
  CHECK(vm::pagemap_lookup(base - 1) == nullptr);
  CHECK(vm::pagemap_lookup(region) == nullptr);
  CHECK(vm::pagemap_lookup(base + size) == nullptr);
  CHECK(vm::pagemap_lookup(region + 5 * kGran - 1) == nullptr);
  CHECK(vm::pagemap_lookup(base)->kind == vm::OwnerKind::kDirectBlock);

  vm::pagemap_clear(base, size);
  CHECK(vm::pagemap_lookup(base) == nullptr);
  CHECK(vm::pagemap_lookup(base + size - 1) == nullptr);
  vm::release(region, 5 * kGran);
}

TEST_CASE("two owners side by side stay apart") {
  REQUIRE(vm::pagemap_init());
  char *region = static_cast<char *>(vm::reserve(2 * kGran));
  REQUIRE(region != nullptr);
  vm::OwnerHeader a{vm::OwnerKind::kLfhSubsegment, 0}, b{vm::OwnerKind::kDirectBlock, 0};
  REQUIRE(vm::pagemap_set(region, kGran, &a));
  REQUIRE(vm::pagemap_set(region + kGran, kGran, &b));
  CHECK(vm::pagemap_lookup(region + kGran - 1) == &a);
  CHECK(vm::pagemap_lookup(region + kGran) == &b);
  vm::pagemap_clear(region, kGran);
  CHECK(vm::pagemap_lookup(region) == nullptr);
  CHECK(vm::pagemap_lookup(region + kGran) == &b);
  vm::pagemap_clear(region + kGran, kGran);
  vm::release(region, 2 * kGran);
}

TEST_CASE("addresses lfh never registered map to nothing and never fault") {
  REQUIRE(vm::pagemap_init());
  int local = 0;
  CHECK(vm::pagemap_lookup(nullptr) == nullptr);
  CHECK(vm::pagemap_lookup(&local) == nullptr);
  CHECK(vm::pagemap_lookup(at(0x1234560)) == nullptr);
  CHECK(vm::pagemap_lookup(at(os::kAddressLimit - 1)) == nullptr);
  CHECK(vm::pagemap_lookup(at(os::kAddressLimit)) == nullptr);
  CHECK(vm::pagemap_lookup(at(std::uintptr_t(1) << 56)) == nullptr);
  CHECK(vm::pagemap_lookup(at(~std::uintptr_t(0))) == nullptr);
  // Ranges reaching past the mapped address space are refused.
  vm::OwnerHeader owner{vm::OwnerKind::kDirectBlock, 0};
  CHECK_FALSE(vm::pagemap_set(at(os::kAddressLimit - kGran), 2 * kGran, &owner));
  CHECK_FALSE(vm::pagemap_set(at(os::kAddressLimit), kGran, &owner));
  CHECK(vm::pagemap_lookup(at(os::kAddressLimit - kGran)) == nullptr);
}

TEST_CASE("the map charges its pages on first use and respects the commit limit") {
  REQUIRE(vm::pagemap_init());
  // An address range nobody maps: the page map does not need the range to exist.
  char *far = at(0x300000000000);
  vm::OwnerHeader owner{vm::OwnerKind::kDirectBlock, 0};
  const std::uint64_t base = vm::totals().committed;

  vm::set_commit_limit(base + 1);   // not 0: that means "no limit"
  const bool refused = !vm::pagemap_set(far, kGran, &owner);
  vm::set_commit_limit(0);
  CHECK(refused);
  CHECK(vm::pagemap_lookup(far) == nullptr);
  CHECK(vm::totals().committed == base);

  REQUIRE(vm::pagemap_set(far, kGran, &owner));
  CHECK(vm::totals().committed == base + vm::kPageSize);   // one page of entries
  CHECK(vm::pagemap_lookup(far) == &owner);
  vm::pagemap_clear(far, kGran);
  CHECK(vm::pagemap_lookup(far) == nullptr);
  // A charged page stays charged: registering there again costs nothing.
  REQUIRE(vm::pagemap_set(far + kGran, kGran, &owner));
  CHECK(vm::totals().committed == base + vm::kPageSize);
  vm::pagemap_clear(far + kGran, kGran);
}
