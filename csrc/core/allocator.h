// Where tensor memory comes from. Training loops allocate and free the same
// shapes every step, so freed blocks are kept for reuse (bounded caches)
// instead of going back to malloc; see allocator.cpp for the measurements.
#pragma once
#include <cstddef>

namespace tt {

struct Block {
  char* data;
  void (*deleter)(void* ctx, char* data);
  void* ctx;
};

Block allocate_block(size_t nbytes);  // 64-byte aligned (2 MiB for >= 4 MiB); data null on failure
void empty_block_cache();             // returns every cached block to the system

}  // namespace tt
