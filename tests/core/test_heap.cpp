// keep_freed_memory: glibc serves tensor-sized blocks from its heap and keeps
// them there after free, instead of mapping and unmapping them each time.
#include <malloc.h>

#include <cstdlib>
#include <cstring>

#include <catch2/catch.hpp>

#include "facet/heap.hpp"

TEST_CASE("keep_freed_memory: a 16 MiB block comes from the heap and stays with it after free", "[heap]") {
  facet::keep_freed_memory();
  const auto mapped = mallinfo2().hblkhd;
  void* volatile block = std::malloc(16 << 20);
  REQUIRE(block != nullptr);
  std::memset(block, 1, 16 << 20);
  CHECK(mallinfo2().hblkhd == mapped);  // not a mapping of its own
  const auto heap = mallinfo2().arena;
  std::free(block);
  CHECK(mallinfo2().arena == heap);  // not given back to the system
}
